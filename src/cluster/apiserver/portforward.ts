/**
 * One TCP connection to a pod's port, made by the API server itself (the dashboard's port-forwards):
 * the agent's port-forward WebSocket (`v4.channel.k8s.io`: channel 0 data, 1 errors, each opening
 * with the port) over TLS checked to be the pod's node's, presented as a Duplex of the port's bytes.
 */
import { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { agentEndpoint, agentTls } from './nodeproxy.js';
import { ApiError, badRequest } from './objects.js';
import type { RegistryContext } from './registry/strategy.js';

const DATA = 0;
const ERROR = 1;

export async function dialPodPort(
  ctx: RegistryContext,
  namespace: string,
  name: string,
  port: number,
): Promise<Duplex> {
  const pod = await ctx.store.read({ res: ctx.resource('pods'), namespace, name });
  const nodeName = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
  if (!nodeName || (pod.status as { phase?: string } | undefined)?.phase !== 'Running')
    throw badRequest(`unable to forward: pod ${name} is not running`);
  const agent = new URL(await agentEndpoint(ctx, nodeName));
  const path = `/portForward/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}?ports=${port}`;
  const ws = new WebSocket(`wss://${agent.host}${path}`, ['v4.channel.k8s.io'], agentTls(ctx, nodeName));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(
        new ApiError(502, 'BadGateway', `the agent of node "${nodeName}" refused the forward (${res.statusCode})`),
      );
    });
    ws.once('error', (err) =>
      reject(
        new ApiError(503, 'ServiceUnavailable', `the agent of node "${nodeName}" cannot be reached: ${err.message}`),
      ),
    );
  });
  // Each channel's first message is the port it serves, not data.
  const opened = new Set<number>();
  const stream = new Duplex({
    read() {
      ws.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      if (ws.readyState !== ws.OPEN) return done(new Error('the forward has closed'));
      ws.send(Buffer.concat([Buffer.from([DATA]), chunk]), done);
    },
    destroy(err, done) {
      ws.terminate();
      done(err);
    },
  });
  ws.on('message', (raw: Buffer) => {
    const channel = raw[0];
    const payload = raw.subarray(1);
    if (channel === undefined) return;
    if (!opened.has(channel)) {
      opened.add(channel);
      return;
    }
    if (channel === DATA && !stream.push(payload)) ws.pause();
    else if (channel === ERROR && payload.length) stream.destroy(new Error(payload.toString()));
  });
  ws.on('close', () => stream.push(null));
  ws.on('error', (err) => stream.destroy(err));
  return stream;
}
