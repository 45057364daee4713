//go:build tools

// Package tools pins the lakeFS server command so `go mod tidy` keeps it.
package tools

import _ "github.com/treeverse/lakefs/cmd/lakefs"
