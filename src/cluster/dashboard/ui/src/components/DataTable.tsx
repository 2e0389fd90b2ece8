import type { KObject, Table } from '../api';

/** A server Table: its priority-0 columns (what `kubectl get` prints), the name linking to the object. */
export function DataTable(props: {
  table: Table;
  caption: string;
  showNamespace?: boolean;
  link?: (meta: KObject['metadata']) => string;
}) {
  const { table } = props;
  const columns = table.columnDefinitions.map((c, i) => ({ ...c, i })).filter((c) => !c.priority);
  if (table.rows.length === 0) return <p class="muted">Nothing here yet.</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            {props.showNamespace && <th scope="col">Namespace</th>}
            {columns.map((c) => (
              <th scope="col" key={c.name} title={c.description}>
                {c.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {table.rows.map((row) => {
            const meta = row.object.metadata;
            return (
              <tr key={meta.uid ?? `${meta.namespace}/${meta.name}`}>
                {props.showNamespace && <td>{meta.namespace}</td>}
                {columns.map((c) => (
                  <td key={c.name}>
                    {c.name === 'Name' && props.link ? (
                      <a href={props.link(meta)}>{String(row.cells[c.i])}</a>
                    ) : (
                      String(row.cells[c.i] ?? '')
                    )}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
