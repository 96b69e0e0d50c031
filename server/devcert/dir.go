package devcert

import (
	"os"
	"path/filepath"
)

// DirEnv names the environment variable that overrides DefaultDir.
const DirEnv = "JOBMANAGER_CERT_DIR"

// DefaultDir is where the development certificates live unless DirEnv says
// otherwise: $XDG_CONFIG_HOME/jobmanager/certs (~/.config/jobmanager/certs).
func DefaultDir() string {
	if dir := os.Getenv(DirEnv); dir != "" {
		return dir
	}
	config, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join("jobmanager", "certs")
	}
	return filepath.Join(config, "jobmanager", "certs")
}
