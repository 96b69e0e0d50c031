package cgroupfs

// v1Freezer has no limits; every job joins it so that Kill can freeze the
// whole job before signalling it (see v1Cgroup.Kill).
var v1Freezer = controller{
	name:   "freezer",
	needed: func(Limits) bool { return true },
}
