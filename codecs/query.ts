import { InvalidQueryError } from './errors.ts'
import { isFieldPath, type Entity, type JsonValue } from './event-codec.ts'

/**
 * Queries in the paper's builder form:
 *
 *   Query.where('age').ge(60).and('age').lt(66).or(new Where('age').eq(67)).orderBy('age').skip(0).limit(10)
 *
 * A query matches when all of its criteria match, or when any of the queries joined with `or` matches (those hold
 * criteria only: sort, skip and limit belong to the outer query). Paths are dotted (`address.city`). Rows come in
 * ID order, or sorted by a path with ties in ID order, whichever index answers; sorting happens before `skip` and
 * `limit`.
 */

export type Operator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'
export type Comparable = string | number | boolean | null

export interface Criterion {
  readonly path: string
  readonly op: Operator
  readonly value: Comparable
}

export interface Sort {
  readonly path: string
  readonly desc: boolean
}

/** A query as plain data: what the builder produces and what a query arriving as JSON must look like. */
export interface QueryJSON {
  readonly ands: readonly Criterion[]
  readonly ors: readonly QueryJSON[]
  readonly sort?: Sort
  readonly skip?: number
  readonly limit?: number
}

const OPERATORS = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le'])
const QUERY_KEYS = new Set<string>(['ands', 'ors', 'sort', 'skip', 'limit'])
const MAX_DEPTH = 32

export class Where {
  readonly path: string
  readonly #query: Query

  constructor (path: string, query?: Query) {
    this.path = path
    this.#query = query ?? new Query()
  }

  eq (value: Comparable): Query { return this.#add('eq', value) }
  ne (value: Comparable): Query { return this.#add('ne', value) }
  gt (value: Comparable): Query { return this.#add('gt', value) }
  ge (value: Comparable): Query { return this.#add('ge', value) }
  lt (value: Comparable): Query { return this.#add('lt', value) }
  le (value: Comparable): Query { return this.#add('le', value) }

  #add (op: Operator, value: Comparable): Query {
    return this.#query.withCriterion({ path: this.path, op, value })
  }
}

/** The builder. Immutable: every call returns a new query. */
export class Query {
  readonly #data: QueryJSON

  constructor (init: Partial<QueryJSON> = {}) {
    this.#data = { ands: init.ands ?? [], ors: init.ors ?? [], sort: init.sort, skip: init.skip, limit: init.limit }
  }

  static where (path: string): Where {
    return new Where(path)
  }

  /** Checks a query given as a builder or as data (from JSON, the CLI, the network) and returns it as data. */
  static parse (value: unknown): QueryJSON {
    return parseQuery(value instanceof Query ? value.toJSON() : value, 0)
  }

  and (path: string): Where {
    return new Where(path, this)
  }

  or (query: Query | QueryJSON): Query {
    return this.#with({ ors: [...this.#data.ors, query instanceof Query ? query.toJSON() : query] })
  }

  orderBy (path: string): Query {
    return this.#with({ sort: { path, desc: false } })
  }

  orderByDesc (path: string): Query {
    return this.#with({ sort: { path, desc: true } })
  }

  skip (count: number): Query {
    return this.#with({ skip: count })
  }

  limit (count: number): Query {
    return this.#with({ limit: count })
  }

  withCriterion (criterion: Criterion): Query {
    return this.#with({ ands: [...this.#data.ands, criterion] })
  }

  toJSON (): QueryJSON {
    return this.#data
  }

  #with (change: Partial<QueryJSON>): Query {
    return new Query({ ...this.#data, ...change })
  }
}

function parseQuery (value: unknown, depth: number): QueryJSON {
  if (depth > MAX_DEPTH) throw new InvalidQueryError(`query nests deeper than ${MAX_DEPTH}`)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidQueryError('a query is an object')
  if (value instanceof Where) throw new InvalidQueryError(`query on ${value.path} has no comparison (eq, ne, gt, ge, lt, le)`)
  const unknown = Object.keys(value).filter(key => !QUERY_KEYS.has(key))
  if (unknown.length > 0) throw new InvalidQueryError(`unknown query fields: ${unknown.join(', ')}`)
  const { ands = [], ors = [], sort, skip, limit } = value as Record<string, unknown>
  if (!Array.isArray(ands) || !Array.isArray(ors)) throw new InvalidQueryError('query ands and ors are lists')
  if (depth > 0 && (sort !== undefined || skip !== undefined || limit !== undefined)) {
    throw new InvalidQueryError('a query joined with or holds criteria only: sort, skip and limit belong to the outer query')
  }
  const parsed: QueryJSON = {
    ands: ands.map(parseCriterion),
    ors: ors.map(or => parseQuery(or, depth + 1)),
    sort: sort === undefined ? undefined : parseSort(sort),
    skip: parseCount(skip, 'skip'),
    limit: parseCount(limit, 'limit')
  }
  return parsed
}

function parsePath (path: unknown): string {
  if (!isFieldPath(path)) throw new InvalidQueryError(`not a field path: ${JSON.stringify(path)}`)
  return path
}

function parseCriterion (value: unknown): Criterion {
  if (typeof value !== 'object' || value === null) throw new InvalidQueryError('a criterion is an object')
  const { path, op, value: operand } = value as Record<string, unknown>
  if (typeof op !== 'string' || !OPERATORS.has(op)) throw new InvalidQueryError(`unknown operator ${JSON.stringify(op)}`)
  if (!isComparable(operand)) throw new InvalidQueryError(`cannot compare with ${JSON.stringify(operand)}`)
  // An index keeps 0 for -0, as entities do: -0 as a key would sort after every number.
  return { path: parsePath(path), op: op as Operator, value: Object.is(operand, -0) ? 0 : operand }
}

function parseSort (value: unknown): Sort {
  if (typeof value !== 'object' || value === null) throw new InvalidQueryError('a sort is an object')
  const { path, desc } = value as Record<string, unknown>
  return { path: parsePath(path), desc: desc === true }
}

function parseCount (value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new InvalidQueryError(`${what} must be a whole number ≥ 0, got ${JSON.stringify(value)}`)
  return value as number
}

function isComparable (value: unknown): value is Comparable {
  return value === null || typeof value === 'boolean' || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))
}

export function valueAt (entity: Entity, path: string): JsonValue | undefined {
  let value: JsonValue | undefined = entity
  // Walked in place: a split would allocate for every entity a query or an index looks at.
  for (let start = 0; ; ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    const end = path.indexOf('.', start)
    const field = end === -1 ? path.slice(start) : path.slice(start, end)
    // Only the entity's own fields: `constructor` or `toString` would otherwise find Object.prototype's.
    if (!Object.hasOwn(value, field)) return undefined
    value = (value as Record<string, JsonValue>)[field]
    if (end === -1) return value
    start = end + 1
  }
}

const RANK = { undefined: 0, null: 1, boolean: 2, number: 3, string: 4, object: 5 } as const

function rank (value: JsonValue | undefined): number {
  if (value === undefined) return RANK.undefined
  if (value === null) return RANK.null
  return RANK[typeof value as 'boolean' | 'number' | 'string' | 'object']
}

/**
 * Strings in Unicode code point order, which is also UTF-8 byte order: the order LMDB keeps index keys in, so an
 * index range and a scan agree (JavaScript's `<` compares UTF-16 units and puts '😀' before '\uE000').
 */
export function compareStrings (a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (U+D800–DFFF) stand for code points above every BMP unit; lift them above U+FFFF to compare.
    const rank = (unit: number): number => (unit >= 0xd800 && unit <= 0xdfff ? unit + 0x10000 : unit)
    return rank(x) - rank(y)
  }
  return a.length - b.length
}

/** One total order over JSON values: missing < null < booleans < numbers < strings < arrays and objects. */
export function compareValues (a: JsonValue | undefined, b: JsonValue | undefined): number {
  const byRank = rank(a) - rank(b)
  if (byRank !== 0) return byRank
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b)
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  if (rank(a) === RANK.object) {
    const sa = JSON.stringify(a)
    const sb = JSON.stringify(b)
    return sa < sb ? -1 : sa > sb ? 1 : 0
  }
  return 0
}

export function criterionMatches (entity: Entity, criterion: Criterion): boolean {
  const value = valueAt(entity, criterion.path)
  if (criterion.op === 'ne') return value === undefined || compareValues(value, criterion.value) !== 0
  // Ordering comparisons hold only between values of one kind: 'age > 3' never matches a missing or string age.
  if (value === undefined || rank(value) !== rank(criterion.value)) return false
  const order = compareValues(value, criterion.value)
  switch (criterion.op) {
    case 'eq': return order === 0
    case 'gt': return order > 0
    case 'ge': return order >= 0
    case 'lt': return order < 0
    case 'le': return order <= 0
  }
}

export function queryMatches (entity: Entity, query: QueryJSON): boolean {
  if ((query.ands.length > 0 || query.ors.length === 0) && query.ands.every(criterion => criterionMatches(entity, criterion))) return true
  return query.ors.some(or => queryMatches(entity, or))
}

/**
 * Sorts (when the query says how), then skips and limits, as the paper's order of operations has it. Rows come in
 * ID order, and the sort is stable, so ties keep it.
 */
export function arrange (rows: Entity[], query: QueryJSON): Entity[] {
  const { sort } = query
  if (sort !== undefined) {
    const direction = sort.desc ? -1 : 1
    rows.sort((a, b) => direction * compareValues(valueAt(a, sort.path), valueAt(b, sort.path)))
  }
  const start = query.skip ?? 0
  return rows.slice(start, query.limit === undefined ? undefined : start + query.limit)
}
