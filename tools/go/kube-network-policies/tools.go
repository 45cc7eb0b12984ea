//go:build tools

// Wrapper module: kube-network-policies is built from here so that tools/install can point `go build -overlay` at
// its nftables library (see xtqueue/ and tools/go/README.md); go.sum pins every dependency.
package tools

import _ "sigs.k8s.io/kube-network-policies/cmd"
