//go:build tools

// Package tools pins the Temporal CLI's build: `go install github.com/temporalio/cli/cmd/temporal` run in this folder
// builds the CLI with this module's requirements, which raise modernc.org/sqlite (the dev server's SQLite driver)
// above the version the CLI names.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
