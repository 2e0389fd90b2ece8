import { useEffect, useState } from 'preact/hooks';
import { login } from '../api';

/** Log in with a bearer token or a kubeconfig (its token, or its client certificate), or a one-time link. */
export function Login(props: { reason: string; code?: string; onLogin: (username: string) => void }) {
  const [mode, setMode] = useState<'token' | 'kubeconfig'>('token');
  const [value, setValue] = useState('');
  const [error, setError] = useState(props.reason);
  const [busy, setBusy] = useState(false);

  const submit = async (body: Record<string, string>): Promise<void> => {
    setBusy(true);
    setError('');
    try {
      const { user } = await login(body);
      props.onLogin(user.username);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    if (props.code) void submit({ code: props.code });
  }, [props.code]);

  return (
    <main class="login" id="main">
      <h1>Gantry</h1>
      <form
        aria-labelledby="login-title"
        onSubmit={(e) => {
          e.preventDefault();
          void submit(mode === 'token' ? { token: value } : { kubeconfig: value });
        }}
      >
        <h2 id="login-title">Log in to the cluster</h2>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <fieldset>
          <legend>Log in with</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'token'} onChange={() => setMode('token')} /> A token
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'kubeconfig'} onChange={() => setMode('kubeconfig')} /> A
            kubeconfig (its token or client certificate)
          </label>
        </fieldset>
        <label for="credential">{mode === 'token' ? 'Bearer token' : 'Kubeconfig (YAML)'}</label>
        <textarea
          id="credential"
          rows={mode === 'token' ? 4 : 12}
          spellcheck={false}
          autocomplete="off"
          value={value}
          onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)}
          placeholder={mode === 'token' ? 'kubectl create token <serviceaccount>' : 'the contents of a kubeconfig file'}
        />
        <button type="submit" disabled={busy || !value.trim()}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="muted">
          Or run <code>gantry dashboard</code> for a one-time login link. The credential stays on the server; this
          browser keeps only a session cookie.
        </p>
      </form>
    </main>
  );
}
