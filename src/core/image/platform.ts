import {InvalidArgumentError} from '../errors.js'

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

const ARCH_ALIASES: Record<string, string> = {x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', i386: '386', i686: '386', armhf: 'arm', armel: 'arm'}

/** containerd's normalisation: arm64's only variant is v8, arm defaults to v7. */
export function normalise(p: Platform): Platform {
  const os = p.os.toLowerCase()
  const architecture = ARCH_ALIASES[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase()
  let variant = p.variant?.toLowerCase() || undefined
  if (architecture === 'arm64' && (variant === 'v8' || variant === '8')) variant = undefined
  if (architecture === 'arm' && variant === undefined) variant = p.architecture.toLowerCase() === 'armel' ? 'v6' : 'v7'
  if (architecture === 'arm' && variant && /^\d$/.test(variant)) variant = `v${variant}`
  return variant ? {os, architecture, variant} : {os, architecture}
}

/** `os/arch[/variant]`, as `--platform` takes it. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some(p => !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new InvalidArgumentError(`platform ${JSON.stringify(s)}: expected os/arch[/variant], such as linux/amd64 or linux/arm/v7`)
  }
  return normalise({os: parts[0]!, architecture: parts[1]!, variant: parts[2]})
}

export function hostPlatform(): Platform {
  const arch: Record<string, string> = {x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle'}
  const armVersion = (process.config.variables as Record<string, unknown>).arm_version
  return normalise({
    os: process.platform === 'win32' ? 'windows' : process.platform,
    architecture: arch[process.arch] ?? process.arch,
    variant: process.arch === 'arm' && armVersion ? `v${String(armVersion)}` : undefined,
  })
}

export function formatPlatform(p: Platform): string {
  const n = normalise(p)
  return [n.os, n.architecture, n.variant].filter(Boolean).join('/')
}

/** Whether an image built for `have` is what `want` asked for: os and arch equal, variant equal once normalised. */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalise(want)
  const h = normalise(have)
  return w.os === h.os && w.architecture === h.architecture && w.variant === h.variant
}

/** Attestation and other non-image entries in an index carry this (buildx): never a candidate. */
export function isUnknownPlatform(p: Platform): boolean {
  return p.os === 'unknown' || p.architecture === 'unknown'
}
