//go:build tools

// Package tools pins the kubeconform command so `go mod tidy` keeps it.
package tools

import _ "github.com/yannh/kubeconform/cmd/kubeconform"
