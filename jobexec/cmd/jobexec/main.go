// Command jobexec is the helper that the JobManager server starts for each
// job: it joins the job's cgroups, finishes setting up its namespaces, runs
// the program and stays as the namespace's init. See package jobexec.
package main

import "github.com/jobmanager/jobmanager/jobexec"

func main() { jobexec.Main() }
