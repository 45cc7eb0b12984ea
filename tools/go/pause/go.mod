// The local node's pause program (tools/cluster/node); no dependencies.
module pause

go 1.25.0
