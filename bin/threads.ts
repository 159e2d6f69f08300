#!/usr/bin/env node
import { ThreadsError } from '../index.ts'
import { helpOf, outputFor, parse, type Command } from './command.ts'
import { daemonCommand } from './daemon.ts'
import { demoCommand } from './demo.ts'
import { UsageError } from './errors.ts'
import { storeCommands } from './store-commands.ts'
import { inviteCommands } from './invite-commands.ts'

/**
 * The `threads` command: `threads <command> [arguments] [options]`. Each command is one entry of `COMMANDS`;
 * failures print `name: message` and exit 1, or 2 for a usage error.
 */

const COMMANDS: readonly Command[] = [demoCommand, daemonCommand, ...storeCommands, ...inviteCommands]

const usage = (): string => [
  'Usage: threads <command> [arguments] [options]',
  '',
  'Commands:',
  ...COMMANDS.map(command => `  ${command.name.padEnd(15)} ${command.summary}`),
  `  ${'help'.padEnd(15)} This text, or a command's: threads help <command> (or threads <command> --help)`,
  '',
  'Every command takes --path DIR (the peer\'s directory, default ~/.threads), --json (output for scripts) and --help.'
].join('\n')

const [name = 'help', ...args] = process.argv.slice(2)
try {
  const command = COMMANDS.find(command => command.name === name)
  if (name === 'help' || name === '--help' || name === '-h') {
    const about = COMMANDS.find(command => command.name === args[0])
    if (about === undefined && args[0] !== undefined) throw new UsageError(`unknown command ${JSON.stringify(args[0])}\n\n${usage()}`)
    console.log(about === undefined ? usage() : helpOf(about))
  } else if (command === undefined) {
    throw new UsageError(`unknown command ${JSON.stringify(name)}\n\n${usage()}`)
  } else {
    const { values, positionals } = parse(command, args)
    if (values.help === true) console.log(helpOf(command))
    else await command.run(values, positionals, outputFor(values.json === true))
  }
} catch (error) {
  const json = args.includes('--json')
  // Errors that name themselves with a code (ours, Node's, libp2p's) are answers to the input; anything else is a
  // fault, shown whole.
  const code = (error as { code?: unknown } | undefined)?.code
  if (error instanceof Error && (error instanceof ThreadsError || typeof code === 'string')) {
    console.error(json ? JSON.stringify({ error: error.name, code, message: error.message }) : `${error.name}: ${error.message}`)
  } else {
    console.error(json ? JSON.stringify({ error: 'Error', message: String(error instanceof Error ? error.stack : error) }) : error)
  }
  process.exitCode = error instanceof UsageError ? 2 : 1
}
