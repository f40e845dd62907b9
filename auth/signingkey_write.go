package auth

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile stores the key at path as a PEM PKCS#8 file with mode 0600,
// replacing any file there atomically (write to a temporary file, then
// rename). Used by key rotation.
func (k *SigningKey) WriteFile(path string) error {
	data, err := k.marshalPEM()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("writing signing key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".signing-key-*")
	if err != nil {
		return fmt.Errorf("writing signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndClose(tmp, data); err != nil {
		return fmt.Errorf("writing signing key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing signing key: %w", err)
	}
	return nil
}
