import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, forgetApiKey, onKeyRefused, storeApiKey, storedApiKey } from './api';
import { BatchPage } from './pages/batch';
import { ModelsPage } from './pages/models';
import { RunsPage } from './pages/runs';
import { ScorePage } from './pages/score';
import { PAGES, linkProps, useRoute } from './router';
import { ErrorBox } from './ui';
import './styles.css';

/** Asks for an API key once per browser session; the key is checked against the API before it is kept. */
function KeyPrompt({ reason, onKey }: { reason: string | null; onKey: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(reason);
  const [checking, setChecking] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setChecking(true);
    try {
      await api.checkKey(key.trim());
      storeApiKey(key.trim());
      onKey();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setChecking(false);
    }
  };
  return (
    <div class="key-prompt">
      <form class="card" onSubmit={submit}>
        <h1>padim-fleet console</h1>
        <p>
          Enter an API key (one of the API's <code>API_KEYS</code>). It is kept for this browser session only.
        </p>
        <input id="api-key" type="password" autoComplete="off" placeholder="API key" value={key} onInput={(e) => setKey(e.currentTarget.value)} autoFocus />
        <ErrorBox message={error} />
        <button type="submit" class="primary" disabled={checking || key.trim() === ''}>
          {checking ? 'Checking…' : 'Open the console'}
        </button>
      </form>
    </div>
  );
}

function App() {
  const route = useRoute();
  const [hasKey, setHasKey] = useState(() => storedApiKey() !== null);
  const [refusal, setRefusal] = useState<string | null>(null);
  useEffect(
    () =>
      onKeyRefused((message) => {
        forgetApiKey();
        setRefusal(`The API refused the key: ${message}`);
        setHasKey(false);
      }),
    [],
  );
  if (!hasKey) return <KeyPrompt reason={refusal} onKey={() => setHasKey(true)} />;
  const signOut = () => {
    forgetApiKey();
    setRefusal(null);
    setHasKey(false);
  };
  return (
    <>
      <header class="topbar">
        <span class="brand">padim-fleet</span>
        <nav>
          {PAGES.map((p) => (
            <a key={p.id} {...linkProps(p.id)} class={route.page === p.id ? 'active' : ''} data-page={p.id}>
              {p.title}
            </a>
          ))}
        </nav>
        <button class="link" onClick={signOut}>
          Change key
        </button>
      </header>
      <main>
        {route.page === 'runs' && <RunsPage />}
        {route.page === 'models' && <ModelsPage params={route.params} />}
        {route.page === 'score' && <ScorePage />}
        {route.page === 'batch' && <BatchPage params={route.params} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
