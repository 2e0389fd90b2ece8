import { Component } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { age } from '../../../../api/age';
import type { KObject, Table } from '../api';

type Column = Table['columnDefinitions'][number] & { i: number };

interface RowProps {
  row: Table['rows'][number];
  columns: Column[];
  now: number;
  showNamespace?: boolean;
  link?: (meta: KObject['metadata']) => string;
}

/**
 * One object's row, drawn again only when its row, the columns or the clock change: a watch event
 * then costs one row, not a thousand. (`link` is left out of the comparison: pages pass a new arrow
 * each time, and it only changes with the kind, which brings new rows anyway.)
 */
class Row extends Component<RowProps> {
  shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return (
      next.row !== p.row || next.columns !== p.columns || next.now !== p.now || next.showNamespace !== p.showNamespace
    );
  }

  render({ row, columns, now, showNamespace, link }: RowProps) {
    const meta = row.object.metadata;
    return (
      <tr>
        {showNamespace && <td>{meta.namespace}</td>}
        {columns.map((c) => (
          <td key={c.name}>
            {c.name === 'Name' && link ? (
              <a href={link(meta)}>{String(row.cells[c.i])}</a>
            ) : c.name === 'Age' && meta.creationTimestamp ? (
              age(meta.creationTimestamp, now)
            ) : (
              String(row.cells[c.i] ?? '')
            )}
          </td>
        ))}
      </tr>
    );
  }
}

/** The time now, renewed every `ms`: ages keep counting between the rows' changes. */
function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/**
 * A server Table: its priority-0 columns (what `kubectl get` prints), the name linking to the object,
 * the age counted here from the object's creation so it stays true while the row does not change.
 */
export function DataTable(props: {
  table: Table;
  caption: string;
  showNamespace?: boolean;
  link?: (meta: KObject['metadata']) => string;
}) {
  const { table } = props;
  const definitions = table.columnDefinitions;
  const columns = useMemo(() => definitions.map((c, i) => ({ ...c, i })).filter((c) => !c.priority), [definitions]);
  const now = useNow(5000);
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
              <Row
                key={meta.uid ?? `${meta.namespace}/${meta.name}`}
                row={row}
                columns={columns}
                now={now}
                showNamespace={props.showNamespace}
                link={props.link}
              />
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
