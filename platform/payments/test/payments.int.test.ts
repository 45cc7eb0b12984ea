// The payments pair deployed by deploy.sh on the run's cluster, first onto the kwok nodes, then for real onto the real
// node. Both use the pair's fixed names (namespaces, NodePort, ClusterRole), so they take turns; in one file they
// follow each other in one worker, where two files would leave a worker waiting for the other's turn to end.
import './deploy.suite.ts';
import './real-node.suite.ts';
