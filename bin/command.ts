import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'
import { createPeer, type Peer, type PeerInit } from '../index.ts'
import { NoPeerError, PathInUseError, UsageError } from './errors.ts'

/**
 * What every `threads` command shares: its options parsed with node:util, `--path`, `--json` and `--help`, output
 * as text or as JSON, progress on the terminal, and the peer a command works on.
 */

export type Values = Record<string, string | boolean | string[] | undefined>

export interface Output {
  /** Prints a result: `text` for people, `data` as one JSON line with `--json`. */
  result (text: string, data: unknown): void
  /** Shows how far a long job is, on one line of the terminal; `done` clears it. Silent unless stderr is one. */
  progress (line: string | undefined): void
}

export interface Command {
  readonly name: string
  readonly summary: string
  /** Arguments and options after the command's name. */
  readonly usage: string
  /** The positional arguments it needs, by name, in order. */
  readonly arguments: readonly string[]
  /** Whether it takes more positional arguments after those (a list of them); without, an extra one is refused. */
  readonly moreArguments?: boolean
  readonly options: ParseArgsOptionsConfig
  run (values: Values, positionals: string[], out: Output): Promise<void>
}

export const DEFAULT_PATH = join(homedir(), '.threads')

export const COMMON_OPTIONS: ParseArgsOptionsConfig = {
  path: { type: 'string', default: DEFAULT_PATH },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
}

export function helpOf (command: Command): string {
  return `Usage: threads ${command.name} ${command.usage}\n\n${command.summary}\n\nEvery command takes --path DIR (default ~/.threads), --json and --help.`
}

export function outputFor (json: boolean): Output {
  let shown = false
  return {
    result (text, data) {
      console.log(json ? JSON.stringify(data) : text)
    },
    progress (line) {
      if (json || !process.stderr.isTTY) return
      if (line === undefined) {
        if (shown) process.stderr.write('\r\x1b[2K')
        shown = false
        return
      }
      process.stderr.write(`\r\x1b[2K${line}`)
      shown = true
    }
  }
}

/** The command's options and positional arguments, as many of those as it takes (`--help` asks for no more). */
export function parse (command: Command, args: string[]): { values: Values, positionals: string[] } {
  let parsed: { values: Values, positionals: string[] }
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...command.options }, allowPositionals: true, strict: true }) as typeof parsed
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${helpOf(command)}`)
  }
  const { values, positionals } = parsed
  if (values.help === true) return parsed
  const named = command.arguments.map(name => `<${name}>`).join(' ')
  if (positionals.length < command.arguments.length) throw new UsageError(`threads ${command.name} needs ${named}\n\n${helpOf(command)}`)
  const extra = positionals[command.arguments.length]
  if (extra !== undefined && command.moreArguments !== true) {
    const takes = named === '' ? 'takes no arguments' : `takes ${named}`
    throw new UsageError(`threads ${command.name} ${takes}, not also ${JSON.stringify(extra)}\n\n${helpOf(command)}`)
  }
  return parsed
}

/** The values of an option given any number of times; none when it was not given. */
export const listOf = (value: unknown): string[] => Array.isArray(value) ? value as string[] : []

/** The multiaddrs `--listen` names, or undefined (the peer's default) when it names none. */
export const listenOf = (values: Values): string[] | undefined => values.listen === undefined ? undefined : listOf(values.listen)

export function parseJson (text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new UsageError(`${what} is not JSON: ${(error as Error).message}`)
  }
}

/**
 * The lock of the one process that may write at a path (LMDB lets others read beside it): its process ID, and the
 * addresses it listens on, when it does, for `threads address` to print.
 */
export interface PathLock {
  pid: number
  addresses: string[]
}

const lockFile = (path: string): string => join(path, 'lock.json')

/** The process holding the path's lock, if it is still alive. */
export async function lockHolder (path: string): Promise<PathLock | undefined> {
  let lock: PathLock
  try {
    lock = JSON.parse(await readFile(lockFile(path), 'utf8')) as PathLock
  } catch {
    return undefined
  }
  try {
    process.kill(lock.pid, 0)
    return lock
  } catch {
    return undefined
  }
}

/**
 * Writes the lock file whole or not at all, so a reader never sees it half written (and takes a live holder for
 * a dead one): the content goes to a file of this process's own first, then is linked in (failing if a lock is
 * there) or renamed over the old one.
 */
async function writeLock (path: string, content: PathLock, exclusive: boolean): Promise<void> {
  const own = `${lockFile(path)}.${process.pid}`
  await writeFile(own, JSON.stringify(content))
  if (!exclusive) {
    await rename(own, lockFile(path))
    return
  }
  try {
    await link(own, lockFile(path))
  } finally {
    await rm(own, { force: true })
  }
}

/** Takes the path's lock, or refuses if a live process holds it; a dead holder's lock is taken over. */
async function lock (path: string): Promise<void> {
  await mkdir(path, { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeLock(path, { pid: process.pid, addresses: [] }, true)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = await lockHolder(path)
      if (holder !== undefined) throw new PathInUseError(`process ${holder.pid} writes to ${path} (a daemon, or another command): stop it, or give another --path`)
      await rm(lockFile(path), { force: true })
    }
  }
  throw new PathInUseError(`another process took ${path} at the same moment`)
}

export interface PeerOptions extends Omit<PeerInit, 'path'> {
  /**
   * Read-only commands run beside whatever holds the path's lock; all others take it. They read a peer that is there:
   * a path with none (a typo, say) is refused rather than made into a new peer, unless `mayCreate`.
   */
  readOnly?: boolean
  /** A read-only command that makes the peer when there is none: its identity is what it reads. */
  mayCreate?: boolean
}

/** Opens the peer at `--path` for one command, and closes it (and lets go of the lock) whatever happens. */
export async function withPeer<T> (values: Values, options: PeerOptions, body: (peer: Peer) => Promise<T>): Promise<T> {
  const path = values.path as string
  const { readOnly = false, mayCreate = false, ...init } = options
  if (readOnly && !mayCreate && !existsSync(join(path, 'data.mdb'))) {
    throw new NoPeerError(`no peer at ${path}: give the --path of one, or make one (threads new-store, threads daemon)`)
  }
  if (!readOnly) await lock(path)
  try {
    const peer = await createPeer({ network: false, ...init, path })
    try {
      if (!readOnly && peer.addresses.length > 0) await writeLock(path, { pid: process.pid, addresses: peer.addresses.map(String) }, false)
      return await body(peer)
    } finally {
      await peer.close()
    }
  } finally {
    if (!readOnly) await rm(lockFile(path), { force: true })
  }
}
