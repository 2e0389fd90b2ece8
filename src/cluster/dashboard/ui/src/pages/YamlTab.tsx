import { useState } from 'preact/hooks';
import YAML from 'yaml';
import { request, type KObject } from '../api';
import { apiPath, type Kind } from '../kinds';

/** What is shown for editing: the object without its managed fields (the server keeps those). */
function editable(obj: KObject): string {
  const { managedFields: _managed, ...metadata } = obj.metadata;
  return YAML.stringify({ ...obj, metadata });
}

/**
 * The object as YAML, edited and applied with server-side apply (field manager `gantry-dashboard`).
 * The edit keeps the resourceVersion it started from, so a change made meanwhile is a conflict the
 * API reports, not an overwrite.
 */
export function YamlTab(props: { kind: Kind; obj: KObject }) {
  const { kind, obj } = props;
  const [text, setText] = useState(() => editable(obj));
  const [base, setBase] = useState(obj.metadata.resourceVersion);
  const [status, setStatus] = useState<{ ok: boolean; text: string }>();
  const changed = base !== obj.metadata.resourceVersion;

  const apply = async (): Promise<void> => {
    setStatus(undefined);
    try {
      YAML.parse(text);
    } catch (err) {
      setStatus({ ok: false, text: `Not YAML: ${(err as Error).message}` });
      return;
    }
    try {
      const path = `${apiPath(kind, obj.metadata.namespace, obj.metadata.name)}?fieldManager=gantry-dashboard`;
      const applied = await request<KObject>(path, {
        method: 'PATCH',
        body: text,
        contentType: 'application/apply-patch+yaml',
      });
      setText(editable(applied));
      setBase(applied.metadata.resourceVersion);
      setStatus({ ok: true, text: `Applied (resourceVersion ${applied.metadata.resourceVersion})` });
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message });
    }
  };

  return (
    <div class="yaml">
      {changed && (
        <p class="warn" role="status">
          The object changed on the server since this edit began.{' '}
          <button
            onClick={() => {
              setText(editable(obj));
              setBase(obj.metadata.resourceVersion);
            }}
          >
            Load the current version
          </button>
        </p>
      )}
      <label for="yaml-editor" class="sr-only">
        YAML of {kind.kind} {obj.metadata.name}
      </label>
      <textarea
        id="yaml-editor"
        spellcheck={false}
        value={text}
        rows={Math.min(40, text.split('\n').length + 2)}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <div class="actions">
        <button onClick={() => void apply()}>Apply</button>
        <button
          onClick={() => {
            setText(editable(obj));
            setBase(obj.metadata.resourceVersion);
            setStatus(undefined);
          }}
        >
          Reset
        </button>
        <span role="status" class={status ? (status.ok ? 'ok' : 'error') : ''}>
          {status?.text}
        </span>
      </div>
    </div>
  );
}
