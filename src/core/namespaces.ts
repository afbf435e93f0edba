import {InvalidArgumentError} from './errors.js'

/** The namespace of every command that names none, as containerd's. */
export const DEFAULT_NAMESPACE = 'default'

/** containerd's identifier rule for namespaces: letters and digits, joined by single '.', '_' or '-'. */
const NAME = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/
const MAX_LENGTH = 76

/** Why `name` is not a valid namespace, or undefined when it is. */
export function namespaceProblem(name: string): string | undefined {
  if (name === '') return 'the namespace must not be empty'
  if (name.length > MAX_LENGTH) return `namespace "${name}" is longer than ${MAX_LENGTH} characters`
  if (!NAME.test(name)) return `"${name}" is not a valid namespace: use letters and digits, joined by single '.', '_' or '-'`
  return undefined
}

export function validateNamespace(name: string): void {
  const problem = namespaceProblem(name)
  if (problem !== undefined) throw new InvalidArgumentError(problem)
}
