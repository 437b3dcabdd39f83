import type pg from 'pg';

/** Runs parameterised SQL ($1, $2, … bound by the server, never spliced) on one connection or the pool. */
export interface Sql {
  query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /**
   * One transaction on one connection (BEGIN … COMMIT; ROLLBACK when `fn`
   * throws). `setup`: parameterless statements (SET LOCAL …) sent with the
   * BEGIN in the same round trip.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>, setup?: string): Promise<T>;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

const on = (client: Queryable, transaction: Sql['transaction']): Sql => ({
  async query<R extends object>(text: string, params: readonly unknown[] = []) {
    return (await client.query<R & pg.QueryResultRow>(text, params as unknown[])).rows;
  },
  transaction,
});

/**
 * The search queries' SQL over a pg pool — the ORM's own (its connection
 * limit applies), so the queries get real bind parameters and the extended
 * protocol, not client-side formatted literals: a query vector travels once,
 * as one parameter.
 */
export function sqlOver(pool: pg.Pool): Sql {
  const transaction = async <T>(fn: (tx: Sql) => Promise<T>, setup?: string): Promise<T> => {
    const client = await pool.connect();
    let broken = false;
    try {
      // Without parameters pg uses the simple protocol, which runs several statements in one message.
      await client.query(setup ? `BEGIN; ${setup}` : 'BEGIN');
      const tx = on(client, () => Promise.reject(new Error('nested transactions are not supported')));
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  };
  return on(pool, transaction);
}

/** Collects bind parameters: `p.add(v)` returns its placeholder (`$1`, `$2`, …). */
export class SqlParams {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
