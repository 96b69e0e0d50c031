package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// store keeps job records and outputs under a data directory:
// DIR/jobs/ID/{job.json,stdout,stderr}.
type store struct {
	dir string
}

func (s store) jobDir(id string) string { return filepath.Join(s.dir, "jobs", id) }

func (s store) outputPath(id string, stream Stream) string {
	return filepath.Join(s.jobDir(id), stream.fileName())
}

// create makes the directory of a new job; an existing one is an error, so
// that an id is never reused.
func (s store) create(id string) error {
	if err := os.MkdirAll(filepath.Join(s.dir, "jobs"), 0o700); err != nil {
		return fmt.Errorf("create jobs directory: %w", err)
	}
	if err := os.Mkdir(s.jobDir(id), 0o700); err != nil {
		return fmt.Errorf("create job directory: %w", err)
	}
	return nil
}

// save replaces the job's record atomically: write a temporary file, rename
// it over the old one. A durable save also syncs the file and the
// directory, so that the record survives a crash of the machine, not only
// of the server; the record of a running job need not (the job does not
// survive the machine either), which keeps two fsyncs off every start.
func (s store) save(status Status, durable bool) error {
	data, err := json.MarshalIndent(status, "", "  ")
	if err != nil {
		return fmt.Errorf("encode job record: %w", err)
	}
	dir := s.jobDir(status.ID)
	tmp, err := os.CreateTemp(dir, ".job.json.*")
	if err != nil {
		return fmt.Errorf("save job record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save job record: %w", err)
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return fmt.Errorf("save job record: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save job record: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, "job.json")); err != nil {
		return fmt.Errorf("save job record: %w", err)
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

// load reads every job record. A directory without a readable record (the
// server died between creating it and saving the record) is returned in
// broken, so that the caller can report it.
func (s store) load() (records []Status, broken []string, err error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "jobs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list jobs: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.jobDir(e.Name()), "job.json"))
		var status Status
		if err == nil {
			err = json.Unmarshal(data, &status)
		}
		if err != nil || status.ID != e.Name() {
			broken = append(broken, e.Name())
			continue
		}
		records = append(records, status)
	}
	return records, broken, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
