/** Names Gantry's cluster components agree on: annotations, labels and the like. */

/** On a Node: the port its agent's cluster DNS answers on, at the node's InternalIP. */
export const CLUSTER_DNS_PORT_ANNOTATION = 'gantry.io/cluster-dns-port';

/** A bootstrap token, `<id>.<secret>` (kubeadm's format): six and sixteen of [a-z0-9]. */
export const BOOTSTRAP_TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const BOOTSTRAP_TOKEN_TYPE = 'bootstrap.kubernetes.io/token';
/** The public ConfigMap in kube-public a joining machine reads the cluster's server and CA from. */
export const CLUSTER_INFO = 'cluster-info';

/** The controller of the built-in IngressClass `gantry`: the ingress proxy of every node's agent. */
export const INGRESS_CONTROLLER = 'gantry.io/ingress';
