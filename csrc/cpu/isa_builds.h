// Which per-ISA kernel files this build compiled. CMake says it (CHAINRULE_HAVE_X86_ISA,
// CHAINRULE_HAVE_NEON_ISA); a build that does not (a test compiling the sources directly) takes
// the target's: the x86-64 files wherever the target is x86-64, and the NEON ones on AArch64,
// where Advanced SIMD is part of every CPU (its kernels need no run-time check).
#pragma once

#ifndef CHAINRULE_HAVE_X86_ISA
#if defined(__x86_64__) || defined(_M_X64)
#define CHAINRULE_HAVE_X86_ISA 1
#else
#define CHAINRULE_HAVE_X86_ISA 0
#endif
#endif
#ifndef CHAINRULE_HAVE_NEON_ISA
#if defined(__aarch64__) || defined(_M_ARM64)
#define CHAINRULE_HAVE_NEON_ISA 1
#else
#define CHAINRULE_HAVE_NEON_ISA 0
#endif
#endif
