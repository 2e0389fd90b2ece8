import { useEffect, useRef, useState } from 'preact/hooks';
import { stream, type KObject } from '../api';

const MAX_CHARS = 1 << 20;

/** A container's log, followed as it grows (or its previous run's), as `kubectl logs -f [--previous]`. */
export function LogsTab(props: { pod: KObject }) {
  const m = props.pod.metadata;
  const containers = ((props.pod.spec as { containers?: Array<{ name: string }> } | undefined)?.containers ?? []).map(
    (c) => c.name,
  );
  const [container, setContainer] = useState(containers[0] ?? '');
  const [follow, setFollow] = useState(true);
  const [previous, setPrevious] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    setText('');
    setError('');
    const q = new URLSearchParams({ container, tailLines: '1000' });
    if (follow && !previous) q.set('follow', 'true');
    if (previous) q.set('previous', 'true');
    stream(
      `/api/v1/namespaces/${encodeURIComponent(m.namespace!)}/pods/${encodeURIComponent(m.name)}/log?${q}`,
      (chunk) => setText((t) => (t + chunk).slice(-MAX_CHARS)),
      abort.signal,
    ).catch((err: Error) => {
      if (!abort.signal.aborted) setError(err.message);
    });
    return () => abort.abort();
  }, [container, follow, previous]);

  useEffect(() => {
    const el = pre.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [text]);

  return (
    <div>
      <div class="actions">
        <label>
          Container{' '}
          <select value={container} onChange={(e) => setContainer((e.target as HTMLSelectElement).value)}>
            {containers.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} />{' '}
          Follow
        </label>
        <label>
          <input
            type="checkbox"
            checked={previous}
            onChange={(e) => setPrevious((e.target as HTMLInputElement).checked)}
          />{' '}
          Previous run
        </label>
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <pre class="log" ref={pre} tabIndex={0} aria-label={`Log of container ${container}`}>
        {text}
      </pre>
    </div>
  );
}
