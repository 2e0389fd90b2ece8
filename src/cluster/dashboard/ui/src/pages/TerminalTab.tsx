import { useEffect, useRef, useState } from 'preact/hooks';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { execSocket, type KObject } from '../api';

const encoder = new TextEncoder();

/** A frame of the channel protocol: the channel's byte, then the payload. */
function frame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = channel;
  out.set(payload, 1);
  return out;
}

/** A shell in a container (`kubectl exec -it`): xterm.js over the exec WebSocket, resized with the page. */
export function TerminalTab(props: { pod: KObject }) {
  const m = props.pod.metadata;
  const containers = ((props.pod.spec as { containers?: Array<{ name: string }> } | undefined)?.containers ?? []).map(
    (c) => c.name,
  );
  const [container, setContainer] = useState(containers[0] ?? '');
  const [command, setCommand] = useState('sh');
  const [session, setSession] = useState(0);
  const [state, setState] = useState('');
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!session || !host.current) return;
    const term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, screenReaderMode: true });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current);
    fit.fit();
    const ws = execSocket(m.namespace!, m.name, container, command.split(' ').filter(Boolean));
    const resize = (): void => {
      if (ws.readyState === WebSocket.OPEN)
        ws.send(frame(4, encoder.encode(JSON.stringify({ Width: term.cols, Height: term.rows }))));
    };
    setState('Connecting…');
    ws.onopen = () => {
      setState('Connected');
      resize();
      term.focus();
    };
    ws.onmessage = (e) => {
      const data = new Uint8Array(e.data as ArrayBuffer);
      if (data.length === 0) return;
      if (data[0] === 1 || data[0] === 2) term.write(data.subarray(1));
      else if (data[0] === 3) {
        const status = JSON.parse(new TextDecoder().decode(data.subarray(1))) as { status?: string; message?: string };
        setState(status.status === 'Success' ? 'Exited' : `Exited: ${status.message ?? ''}`);
      }
    };
    ws.onclose = () => setState((s) => (s.startsWith('Exited') ? s : 'Disconnected'));
    ws.onerror = () => setState('The connection failed');
    const input = term.onData((d) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame(0, encoder.encode(d)));
    });
    const onResize = (): void => {
      fit.fit();
      resize();
    };
    const sized = term.onResize(resize);
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      input.dispose();
      sized.dispose();
      ws.close();
      term.dispose();
    };
  }, [session]);

  return (
    <div>
      <form
        class="actions"
        onSubmit={(e) => {
          e.preventDefault();
          setSession((n) => n + 1);
        }}
      >
        <label>
          Container{' '}
          <select value={container} onChange={(e) => setContainer((e.target as HTMLSelectElement).value)}>
            {containers.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Command <input value={command} onInput={(e) => setCommand((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">{session ? 'Reconnect' : 'Connect'}</button>
        <span role="status">{state}</span>
      </form>
      <div class="terminal" ref={host} aria-label="Terminal" />
    </div>
  );
}
