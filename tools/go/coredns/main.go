// Command coredns is CoreDNS with only the plugins the real node's cluster DNS uses (tools/cluster/node):
// upstream's main package compiles in every plugin, with the AWS, Azure and Google Cloud SDKs, which more than
// doubles the build for nothing we run.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	// The order in which plugins handle a query: upstream's plugin.cfg order, restricted to ours.
	dnsserver.Directives = []string{"bind", "ready", "errors", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
