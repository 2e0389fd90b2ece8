/** Names Gantry's cluster components agree on: annotations, labels and the like. */

/** On a Node: the port its agent's cluster DNS answers on, at the node's InternalIP. */
export const CLUSTER_DNS_PORT_ANNOTATION = 'gantry.io/cluster-dns-port';
