// The CPU GEMM and its dense-layer epilogues against the reference, as a standalone program: no
// Python, so it can be cross-compiled and run under an emulator for a CPU the CI machine lacks
// (the NEON kernels under qemu-aarch64, tests_native/run_aarch64.sh). Checks, for every ISA path
// this CPU runs (the best one and the scalar fallback), float32 and float64:
//   - C = op(A) op(B) (+ C) for all four transposes against a double-precision reference, around every register
//     tile edge (rows 0..17, columns around 4/6/8/12/16), K of 0, 1, 7, 97, and shapes large
//     enough for packing, several K blocks and threads;
//   - the fused epilogues (bias + activation forward; activation derivative + bias gradient
//     backward) bit for bit against the separate passes;
//   - 1 and 2 threads give bit-identical results.
// Exits non-zero and prints the first failures when anything disagrees.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "chainrule/gemm.h"
#include "chainrule/kernels.h"

using chainrule::cpu::Activation;
using chainrule::cpu::Isa;
using chainrule::cpu::Trans;
namespace cpu = chainrule::cpu;

namespace {

int failures = 0;
int checks = 0;

void fail(const std::string& what) {
  if (++failures <= 20) std::printf("FAIL %s\n", what.c_str());
}

template <typename T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

template <typename T>
std::vector<T> random_matrix(std::mt19937& rng, int64_t rows, int64_t ld) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<T> m(size_t(std::max<int64_t>(rows, 1) * ld));
  for (T& x : m) x = T(uniform(rng));
  return m;
}

// op(A) (M, K), op(B) (K, N), C (M, N), each with rows padded by `pad` so leading dimensions
// exceed the row length.
template <typename T>
void check_gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, bool accumulate, int pad, std::mt19937& rng,
                const char* isa) {
  const int64_t a_rows = ta == Trans::No ? M : K, a_cols = ta == Trans::No ? K : M;
  const int64_t b_rows = tb == Trans::No ? K : N, b_cols = tb == Trans::No ? N : K;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
  const std::vector<T> A = random_matrix<T>(rng, a_rows, std::max<int64_t>(lda, 1));
  const std::vector<T> B = random_matrix<T>(rng, b_rows, std::max<int64_t>(ldb, 1));
  const std::vector<T> C0 = random_matrix<T>(rng, M, std::max<int64_t>(ldc, 1));
  std::vector<T> got = C0;
  cpu::gemm<T>(ta, tb, M, N, K, A.data(), std::max<int64_t>(lda, 1), B.data(), std::max<int64_t>(ldb, 1), got.data(),
               std::max<int64_t>(ldc, 1), accumulate);
  const double rel = sizeof(T) == 4 ? 1e-5 : 1e-12;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      // The reference in double (cpu::gemm_reference's long double is a software quad on
      // AArch64, far too slow under an emulator); the magnitude of the terms bounds the
      // rounding of any summation order, and the double sum's own error is far below it.
      double expected = accumulate ? double(C0[i * ldc + j]) : 0.0;
      double scale = std::fabs(expected);
      for (int64_t k = 0; k < K; ++k) {
        const double a = ta == Trans::No ? A[i * lda + k] : A[k * lda + i];
        const double b = tb == Trans::No ? B[k * ldb + j] : B[j * ldb + k];
        expected += a * b;
        scale += std::fabs(a * b);
      }
      const double tol = rel * std::max(1.0, double(K) / 64) * std::max(scale, 1e-30);
      ++checks;
      if (!(std::fabs(double(got[i * ldc + j]) - expected) <= tol)) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "%s %s gemm ta=%d tb=%d M=%lld N=%lld K=%lld acc=%d at (%lld, %lld): %.9g vs %.9g", isa,
                      dtype_name<T>(), int(ta), int(tb), (long long)M, (long long)N, (long long)K, int(accumulate),
                      (long long)i, (long long)j, double(got[i * ldc + j]), expected);
        fail(buf);
        return;
      }
    }
  }
}

template <typename T>
void check_gemm_shapes(const char* isa) {
  std::mt19937 rng(7);
  const int64_t ms[] = {0, 1, 3, 5, 6, 7, 8, 9, 13, 16, 17};
  const int64_t ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 33, 65};
  const int64_t ks[] = {0, 1, 7, 97};
  for (int t = 0; t < 4; ++t) {
    const Trans ta = Trans(t & 1), tb = Trans(t >> 1);
    for (int64_t M : ms)
      for (int64_t N : ns)
        for (int64_t K : ks)
          for (bool accumulate : {false, true}) check_gemm<T>(ta, tb, M, N, K, accumulate, 3, rng, isa);
    // Packing (above 8 MFLOP), more than one K block (K > 512), and work for two threads;
    // small enough to run under an emulator. {61, 140, 1030}: rows of op(A) = A a page apart in
    // float too (the AVX2 path packs them), with a short last row panel.
    const int64_t large[][3] = {{67, 150, 530}, {130, 70, 260}, {7, 1030, 600}, {50, 1100, 80}, {61, 140, 1030}};
    for (const auto& s : large) {
      check_gemm<T>(ta, tb, s[0], s[1], s[2], false, 5, rng, isa);
      check_gemm<T>(ta, tb, s[0], s[1], s[2], true, 0, rng, isa);
    }
  }
}

template <typename T>
bool same_bits(const std::vector<T>& x, const std::vector<T>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0;
}

// A Linear layer's forward (out = act(x W^T + b), with z kept) and backward epilogue (delta =
// (dY W) * act'(.), dbias = column sums) fused into the GEMM, against the separate passes.
template <typename T>
void check_epilogues(const char* isa) {
  std::mt19937 rng(11);
  const Activation acts[] = {Activation::Identity,  Activation::Relu, Activation::Sigmoid, Activation::Tanh,
                             Activation::LeakyRelu, Activation::Gelu, Activation::GeluTanh};
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 10}, {100, 5, 10}, {13, 17, 9}, {64, 130, 70}, {133, 260, 129}};
  for (Activation act : acts) {
    const double param = act == Activation::LeakyRelu ? 0.1 : 0.0;
    for (const auto& s : shapes) {
      const int64_t B = s[0], OC = s[1], C = s[2];
      const std::vector<T> x = random_matrix<T>(rng, B, C), w = random_matrix<T>(rng, OC, C);
      const std::vector<T> bias = random_matrix<T>(rng, 1, OC);
      const bool keep_z = !cpu::activation_derivative_from_output(act, param);

      // forward, separate passes
      std::vector<T> out_ref(static_cast<size_t>(B * OC)), z_ref(static_cast<size_t>(B * OC));
      cpu::gemm<T>(Trans::No, Trans::Yes, B, OC, C, x.data(), C, w.data(), C, out_ref.data(), OC, false);
      cpu::bias_activation_forward<T>(out_ref.data(), keep_z ? z_ref.data() : nullptr, bias.data(), B, OC, act, param);
      // forward, fused
      std::vector<T> out(static_cast<size_t>(B * OC)), z(static_cast<size_t>(B * OC));
      const cpu::BiasActivationEpilogue<T> forward{bias.data(), keep_z ? z.data() : nullptr, OC, act, param};
      cpu::GemmEpilogue<T> fwd;
      fwd.apply = cpu::bias_activation_epilogue<T>;
      fwd.ctx = &forward;
      cpu::gemm<T>(Trans::No, Trans::Yes, B, OC, C, x.data(), C, w.data(), C, out.data(), OC, false, fwd);
      ++checks;
      if (!same_bits(out, out_ref) || (keep_z && !same_bits(z, z_ref)))
        fail(std::string(isa) + " " + dtype_name<T>() +
             " fused forward epilogue differs from the separate passes, act " + std::to_string(int(act)) + ", shape " +
             std::to_string(B) + "x" + std::to_string(OC) + "x" + std::to_string(C));

      // backward into the layer below: dX (B, C) = dY (B, OC) W (OC, C), then act'(.) of the
      // layer whose output is `a` (B, C) and the bias gradient (C).
      const std::vector<T> dy = random_matrix<T>(rng, B, OC);
      std::vector<T> a_prev = random_matrix<T>(rng, B, C), z_prev = a_prev;
      cpu::bias_activation_forward<T>(a_prev.data(), keep_z ? z_prev.data() : nullptr, nullptr, B, C, act, param);
      std::vector<T> delta_ref(static_cast<size_t>(B * C)), db_ref(static_cast<size_t>(C));
      cpu::gemm<T>(Trans::No, Trans::No, B, C, OC, dy.data(), OC, w.data(), C, delta_ref.data(), C, false);
      cpu::activation_backward_inplace<T>(delta_ref.data(), a_prev.data(), keep_z ? z_prev.data() : nullptr, B * C, act,
                                          param);
      cpu::bias_grad<T>(db_ref.data(), delta_ref.data(), B, C, false);
      std::vector<T> delta(size_t(B * C)), db(static_cast<size_t>(C), T(0));
      const cpu::ActivationBackwardEpilogue<T> backward{a_prev.data(), keep_z ? z_prev.data() : nullptr, C, act, param,
                                                        db.data()};
      cpu::GemmEpilogue<T> bwd;
      bwd.apply = cpu::activation_backward_epilogue<T>;
      bwd.ctx = &backward;
      bwd.sums_over_rows = true;
      cpu::gemm<T>(Trans::No, Trans::No, B, C, OC, dy.data(), OC, w.data(), C, delta.data(), C, false, bwd);
      ++checks;
      if (!same_bits(delta, delta_ref) || !same_bits(db, db_ref))
        fail(std::string(isa) + " " + dtype_name<T>() +
             " fused backward epilogue differs from the separate passes, act " + std::to_string(int(act)) + ", shape " +
             std::to_string(B) + "x" + std::to_string(OC) + "x" + std::to_string(C));
    }
  }
}

// The same product on one and on two threads: bit for bit.
template <typename T>
void check_thread_independence(const char* isa) {
  std::mt19937 rng(3);
  const int64_t shapes[][3] = {{128, 200, 600}, {260, 150, 128}, {97, 1000, 40}, {61, 140, 1030}};
  for (const auto& s : shapes) {
    for (int t = 0; t < 4; ++t) {
      const Trans ta = Trans(t & 1), tb = Trans(t >> 1);
      const int64_t M = s[0], N = s[1], K = s[2];
      const std::vector<T> A = random_matrix<T>(rng, ta == Trans::No ? M : K, ta == Trans::No ? K : M);
      const std::vector<T> B = random_matrix<T>(rng, tb == Trans::No ? K : N, tb == Trans::No ? N : K);
      const int64_t lda = ta == Trans::No ? K : M, ldb = tb == Trans::No ? N : K;
      std::vector<T> one(static_cast<size_t>(M * N)), two(static_cast<size_t>(M * N));
      omp_set_num_threads(1);
      cpu::gemm<T>(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, one.data(), N, false);
      omp_set_num_threads(2);
      cpu::gemm<T>(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, two.data(), N, false);
      ++checks;
      if (!same_bits(one, two))
        fail(std::string(isa) + " " + dtype_name<T>() + " 1 and 2 threads differ at " + std::to_string(M) + "x" +
             std::to_string(N) + "x" + std::to_string(K));
    }
  }
}

template <typename T>
void check_all(const char* isa) {
  check_gemm_shapes<T>(isa);
  check_epilogues<T>(isa);
  check_thread_independence<T>(isa);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up under an emulator too
  const Isa best = cpu::active_isa();
  // Every path this CPU runs: an AVX-512 machine checks its AVX2 kernels too.
  std::vector<Isa> checked;
  for (Isa isa : {best, Isa::Avx2, Isa::Scalar}) {
    cpu::set_isa_for_testing(isa);
    const Isa running = cpu::active_isa();
    if (std::find(checked.begin(), checked.end(), running) != checked.end()) continue;
    checked.push_back(running);
    const char* name = cpu::isa_name(running);
    std::printf("checking the %s path\n", name);
    check_all<float>(name);
    check_all<double>(name);
  }
  cpu::set_isa_for_testing(best);
  std::printf("%d checks, %d failures (best path: %s)\n", checks, failures, cpu::isa_name(best));
  return failures == 0 ? 0 : 1;
}
