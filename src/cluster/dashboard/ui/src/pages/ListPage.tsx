import { apiPath, type Kind } from '../kinds';
import { useLiveTable } from '../live';
import { href } from '../router';
import { DataTable } from '../components/DataTable';

/** A kind's objects in the namespace chosen (or all), in kubectl's columns, following changes live. */
export function ListPage(props: { kind: Kind; namespace: string }) {
  const { kind, namespace } = props;
  const live = useLiveTable(apiPath(kind, namespace || undefined));
  return (
    <section aria-labelledby="list-title">
      <h2 id="list-title">{kind.title}</h2>
      {kind.namespaced && <p class="muted">In {namespace ? `namespace ${namespace}` : 'all namespaces'}</p>}
      {live.error && (
        <p role="alert" class="error">
          {live.error}
        </p>
      )}
      {live.data ? (
        <DataTable
          table={live.data}
          caption={`${kind.title}${namespace ? ` in ${namespace}` : ''}`}
          showNamespace={kind.namespaced && !namespace}
          link={(meta) => href(`/${kind.key}/${kind.namespaced ? `${meta.namespace}/` : ''}${meta.name}`)}
        />
      ) : (
        !live.error && <p class="loading">Loading…</p>
      )}
    </section>
  );
}
