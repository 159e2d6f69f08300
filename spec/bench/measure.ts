/**
 * Timing helpers for benchmarks: warm up, then run rounds of a fixed count and report the median round, so one
 * GC pause or a neighbour's burst does not move the figure. Every loop is bounded in count.
 */

export interface Measurement {
  readonly name: string
  /** Median microseconds per operation. */
  readonly micros: number
}

export function measure (name: string, operation: () => unknown, iterations = 2000, rounds = 5): Measurement {
  for (let i = 0; i < Math.min(iterations, 500); i++) operation()
  const perOp: number[] = []
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    for (let i = 0; i < iterations; i++) operation()
    perOp.push(((performance.now() - start) * 1000) / iterations)
  }
  return { name, micros: median(perOp) }
}

export async function measureAsync (name: string, operation: () => Promise<unknown>, iterations = 1000, rounds = 3): Promise<Measurement> {
  for (let i = 0; i < Math.min(iterations, 100); i++) await operation()
  const perOp: number[] = []
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    for (let i = 0; i < iterations; i++) await operation()
    perOp.push(((performance.now() - start) * 1000) / iterations)
  }
  return { name, micros: median(perOp) }
}

/**
 * Runs `count` operations with up to `inFlight` of them outstanding at once, after a warm-up of its own, `rounds`
 * times; microseconds per operation in the median round.
 */
export async function measureConcurrent (name: string, operation: () => Promise<unknown>, count = 4000, inFlight = 64, rounds = 3): Promise<Measurement> {
  const run = async (operations: number): Promise<number> => {
    const start = performance.now()
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < operations) {
        next++
        await operation()
      }
    }
    await Promise.all(Array.from({ length: inFlight }, worker))
    return ((performance.now() - start) * 1000) / operations
  }
  await run(Math.min(Math.ceil(count / 4), 500))
  const perOp: number[] = []
  for (let round = 0; round < rounds; round++) perOp.push(await run(count))
  return { name, micros: median(perOp) }
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function perSecond (micros: number): number {
  return Math.round(1_000_000 / micros)
}

export function report (title: string, rows: Measurement[]): void {
  console.log(`\n${title}`)
  for (const row of rows) {
    console.log(`  ${row.name.padEnd(58)} ${row.micros.toFixed(1).padStart(9)} µs  ${String(perSecond(row.micros)).padStart(9)} /s`)
  }
}
