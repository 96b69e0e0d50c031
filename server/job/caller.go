package job

// Administrator is the identity that sees and controls every job. It is
// compared byte for byte: "Administrator" is an ordinary user.
const Administrator = "administrator"

// Caller is the authenticated identity making a request: the CommonName of
// its client certificate.
type Caller string

// IsAdministrator reports whether c may touch every job.
func (c Caller) IsAdministrator() bool { return c == Administrator }

// mayAccess reports whether c may see and control a job owned by owner.
func (c Caller) mayAccess(owner string) bool {
	return c.IsAdministrator() || string(c) == owner
}
