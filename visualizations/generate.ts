import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DIAGRAMS_DIR, generateDiagrams } from './diagrams.ts'

/** `npm run diagrams`: writes every diagram afresh and removes any a machine no longer has. */

const files = await generateDiagrams()
await mkdir(DIAGRAMS_DIR, { recursive: true })
const wanted = new Set(files.map(file => file.name))
for (const name of await readdir(DIAGRAMS_DIR)) if (!wanted.has(name)) await rm(join(DIAGRAMS_DIR, name))
for (const file of files) await writeFile(join(DIAGRAMS_DIR, file.name), file.content)
console.log(`wrote ${files.length} files to ${DIAGRAMS_DIR}`)
