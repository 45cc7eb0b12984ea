//go:build tools

// Package tools pins what this module builds: prometheus-operator, and the Prometheus server of the same
// github.com/prometheus/prometheus version the operator links (built with only the service discoveries it uses).
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus/prometheus/cmd/prometheus"
)
