// The tiny-layer kernels (csrc/cpu/small_dense.cpp: Linear layers of at most 32 features in one
// call per pass) against a double-precision reference, as a standalone program, so the NEON path
// runs under qemu-aarch64 (tests_native/run.sh aarch64). For every ISA path this CPU runs (the
// best one, AVX2 on an AVX-512 machine, and the scalar fallback), float32 and float64, every in /
// out width from 1 to 33 (around each vector width, the most vectors a row spans, and the limit)
// and batches around the kernels' row blocks:
//   - forward: act(x W^T + b) and the pre-activation, for ReLU, identity and tanh, with and
//     without bias;
//   - weight gradient delta^T x, written and added;
//   - input gradient (delta W) * act'(.) with the bias gradient's column sums, added to a dbias
//     that already holds values.
// Exits non-zero and prints the first failures when anything disagrees.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "chainrule/gemm.h"
#include "chainrule/kernels.h"

using chainrule::cpu::Activation;
using chainrule::cpu::Isa;
namespace cpu = chainrule::cpu;

namespace {

int failures = 0;
int checks = 0;

void fail(const std::string& what) {
  if (++failures <= 20) std::printf("FAIL %s\n", what.c_str());
}

template <typename T>
std::vector<T> random_values(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<T> v(size_t(std::max<int64_t>(n, 1)));
  for (T& x : v) x = T(uniform(rng));
  return v;
}

// |got - expected| within a rounding bound scaled by the magnitude of the summed terms.
template <typename T>
void expect_close(double got, double expected, double scale, const std::string& what) {
  ++checks;
  const double rel = sizeof(T) == 4 ? 4e-6 : 1e-14;
  if (!(std::fabs(got - expected) <= rel * 8 * std::max(scale, 1e-30)))
    fail(what + ": got " + std::to_string(got) + ", expected " + std::to_string(expected));
}

double activate(Activation act, double z) {
  if (act == Activation::Relu) return z > 0 ? z : 0;
  if (act == Activation::Tanh) return std::tanh(z);
  return z;
}
double derivative(Activation act, double a) {
  if (act == Activation::Relu) return a > 0 ? 1 : 0;
  if (act == Activation::Tanh) return 1 - a * a;
  return 1;
}

template <typename T>
void check_layer(int64_t B, int64_t C, int64_t OC, Activation act, bool with_bias, std::mt19937& rng,
                 const std::string& where) {
  const std::vector<T> x = random_values<T>(rng, B * C), w = random_values<T>(rng, OC * C);
  const std::vector<T> bias = random_values<T>(rng, OC), delta = random_values<T>(rng, B * OC);
  const T* b = with_bias ? bias.data() : nullptr;
  const std::string name = where + " B=" + std::to_string(B) + " C=" + std::to_string(C) + " OC=" + std::to_string(OC) +
                           " act=" + std::to_string(int(act)) + (with_bias ? " bias" : "");

  // Forward: out and the pre-activation z.
  std::vector<T> out(size_t(std::max<int64_t>(B * OC, 1)) + 1, T(7)), z(out.size(), T(7));
  cpu::small_linear_forward<T>(out.data(), z.data(), x.data(), w.data(), b, B, C, OC, act, 0.0);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t o = 0; o < OC; ++o) {
      double pre = b ? double(b[o]) : 0.0, scale = std::fabs(pre);
      for (int64_t c = 0; c < C; ++c) {
        pre += double(x[i * C + c]) * double(w[o * C + c]);
        scale += std::fabs(double(x[i * C + c]) * double(w[o * C + c]));
      }
      expect_close<T>(z[i * OC + o], pre, scale, name + " forward z");
      expect_close<T>(out[i * OC + o], activate(act, double(z[i * OC + o])), std::fabs(pre) + scale,
                      name + " forward out");
    }
  if (out[B * OC] != T(7) || z[B * OC] != T(7)) fail(name + " forward wrote past the end of its output");

  // Weight gradient, written and then added.
  for (bool accumulate : {false, true}) {
    std::vector<T> dw = random_values<T>(rng, OC * C);
    dw.push_back(T(7));
    const std::vector<T> dw0 = dw;
    cpu::small_linear_weight_grad<T>(dw.data(), delta.data(), x.data(), B, C, OC, accumulate);
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t c = 0; c < C; ++c) {
        double sum = accumulate ? double(dw0[o * C + c]) : 0.0, scale = std::fabs(sum);
        for (int64_t i = 0; i < B; ++i) {
          sum += double(delta[i * OC + o]) * double(x[i * C + c]);
          scale += std::fabs(double(delta[i * OC + o]) * double(x[i * C + c]));
        }
        expect_close<T>(dw[o * C + c], sum, scale, name + (accumulate ? " dweight added" : " dweight"));
      }
    if (dw[OC * C] != T(7)) fail(name + " dweight wrote past the end");
  }

  // Input gradient through the previous layer's activation (a = act(z_prev), here x itself as
  // the previous output), with the bias gradient added to what dbias holds.
  std::vector<T> a_prev(x.size());
  for (size_t i = 0; i < x.size(); ++i) a_prev[i] = T(activate(act, double(x[i])));
  std::vector<T> dx(size_t(std::max<int64_t>(B * C, 1)) + 1, T(7));
  std::vector<T> db = random_values<T>(rng, C);
  db.push_back(T(7));
  const std::vector<T> db0 = db;
  cpu::small_linear_input_grad<T>(dx.data(), db.data(), delta.data(), w.data(), a_prev.data(), x.data(), B, C, OC, act,
                                  0.0);
  for (int64_t c = 0; c < C; ++c) {
    double db_sum = db0[c], db_scale = std::fabs(db_sum);
    for (int64_t i = 0; i < B; ++i) {
      double sum = 0, scale = 0;
      for (int64_t o = 0; o < OC; ++o) {
        sum += double(delta[i * OC + o]) * double(w[o * C + c]);
        scale += std::fabs(double(delta[i * OC + o]) * double(w[o * C + c]));
      }
      const double g = sum * derivative(act, double(a_prev[i * C + c]));
      expect_close<T>(dx[i * C + c], g, scale, name + " dx");
      db_sum += g;
      db_scale += scale;
    }
    expect_close<T>(db[c], db_sum, db_scale, name + " dbias");
  }
  if (dx[B * C] != T(7) || db[C] != T(7)) fail(name + " input grad wrote past the end");
}

template <typename T>
void check_path(const char* isa_name) {
  std::mt19937 rng(1234);
  const std::string where = std::string(isa_name) + (sizeof(T) == 4 ? " float32" : " float64");
  int taken = 0;
  for (int64_t C = 1; C <= 33; ++C)
    for (int64_t OC = 1; OC <= 33; ++OC) {
      // Every pair once with a batch of 11 (a block of 8 rows, a pair and one row left, or
      // blocks of 4 or 2), and the narrow and edge widths with every batch around the blocks.
      const bool edge = C <= 3 || OC <= 3 || C % 8 <= 1 || OC % 8 <= 1;
      for (int64_t B : {0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 17, 33}) {
        if (B != 11 && !edge) continue;
        if (!cpu::small_linear_fits<T>(B, C, OC)) continue;
        ++taken;
        const Activation act = (C + OC + B) % 3 == 0   ? Activation::Relu
                               : (C + OC + B) % 3 == 1 ? Activation::Identity
                                                       : Activation::Tanh;
        check_layer<T>(B, C, OC, act, (C + B) % 2 == 0, rng, where);
        if (act != Activation::Relu) check_layer<T>(B, C, OC, Activation::Relu, true, rng, where);
      }
    }
  // Every path takes 8 features (the least any ISA's four vectors hold), none takes 33.
  if (!cpu::small_linear_fits<T>(5, 8, 8)) fail(where + ": 8 features do not take the small path");
  if (cpu::small_linear_fits<T>(5, 33, 5) || cpu::small_linear_fits<T>(5, 5, 33))
    fail(where + ": 33 features take the small path");
  std::printf("%s: %d layer shapes\n", where.c_str(), taken);
}

}  // namespace

int main() {
  std::vector<Isa> paths;
#if defined(__x86_64__)
  paths = {Isa::Avx512, Isa::Avx2, Isa::Scalar};
#elif defined(__aarch64__)
  paths = {Isa::Neon, Isa::Scalar};
#else
  paths = {Isa::Scalar};
#endif
  for (Isa isa : paths) {
    cpu::set_isa_for_testing(isa);
    if (cpu::active_isa() != isa) {  // the CPU lacks it
      std::printf("%s: not on this CPU, skipped\n", cpu::isa_name(isa));
      continue;
    }
    check_path<float>(cpu::isa_name(isa));
    check_path<double>(cpu::isa_name(isa));
  }
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
