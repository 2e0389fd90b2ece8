/**
 * The host's loopback registry, reachable from the nodes as their own `localhost:<port>`: this relay
 * listens on the host's node-LAN address and forwards to the host's loopback, and each node sends its
 * loopback connections to that port there (`lan.forwardLoopbackPort`). So `docker push
 * localhost:5000/kubia` on the host and `--image=localhost:5000/kubia` in the cluster name one image,
 * as they would on one machine. A failed connection closes only itself.
 */
import net from 'node:net';

export function startRelay(listen: { host: string; port: number }, target: { host: string; port: number }): net.Server {
  const server = net.createServer((inbound) => {
    const outbound = net.connect(target);
    const close = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close);
    outbound.on('error', close);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  server.listen(listen.port, listen.host);
  return server;
}
