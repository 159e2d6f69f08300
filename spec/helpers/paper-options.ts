import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The `opts` of the paper's `new Client(...opts)`: a peer in a fresh temporary directory. */
export const opts = [{ path: mkdtempSync(join(tmpdir(), 'threads-paper-')) }] as const
