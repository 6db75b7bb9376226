#include "kernels/reference/linear.h"

#include <cmath>
#include <vector>

#include "common/check.h"
#include "kernels/epilogue.h"
#include "kernels/reference/quantize.h"

namespace qlinear::reference {
namespace {

struct Epilogue {
  const LinearWeights& w;
  Activation activation;
  float operator()(size_t n, float acc) const {
    return EpilogueValue(acc, w.bias.empty() ? nullptr : w.bias.data(), n,
                         activation, w.dtype);
  }
};

// Row n of the dequantized weight ŵ into `out` (K floats).
void DequantizeRow(const LinearWeights& w, size_t n, float* out) {
  switch (w.format) {
    case WeightFormat::kInt4Opaque: {
      const Int4PlainWeights& p = w.int4;
      const size_t groups = p.k / p.group_size;
      for (size_t k = 0; k < p.k; ++k) {
        const size_t g = n * groups + k / p.group_size;
        out[k] = DequantizeInt4(p.q[n * p.k + k], p.scale[g], p.zero[g]);
      }
      return;
    }
    case WeightFormat::kIntxOpaque: {
      const IntxPlainWeights& p = w.intx;
      const size_t groups = p.k / p.group_size;
      for (size_t k = 0; k < p.k; ++k) {
        const size_t g = n * groups + k / p.group_size;
        out[k] = DequantizeIntx(p.q[n * p.k + k], p.zero_point[g], p.scale[g],
                                w.dtype);
      }
      return;
    }
    case WeightFormat::kFp32:
      for (size_t k = 0; k < w.k; ++k) out[k] = w.fp32[n * w.k + k];
      return;
  }
}

// Weight-only: fp32 FMA dot products with ŵ, k ascending.
void FloatLinear(const LinearWeights& w, const float* x, size_t m,
                 const Epilogue& epilogue, float* y) {
  std::vector<float> w_hat(w.k);
  for (size_t n = 0; n < w.n; ++n) {
    DequantizeRow(w, n, w_hat.data());
    for (size_t i = 0; i < m; ++i) {
      const float* xr = x + i * w.k;
      float acc = 0.0f;
      for (size_t k = 0; k < w.k; ++k) acc = std::fma(xr[k], w_hat[k], acc);
      y[i * w.n + n] = epilogue(n, acc);
    }
  }
}

void Int4Dq8Linear(const LinearWeights& w, const float* x, size_t m,
                   const Epilogue& epilogue, float* y) {
  const Int4PlainWeights& p = w.int4;
  const size_t groups = p.k / p.group_size;
  std::vector<int8_t> qa(p.k);
  for (size_t i = 0; i < m; ++i) {
    const RowQParams rq =
        QuantizeActivationRow(x + i * p.k, p.k, w.act_scale_floor, qa.data());
    for (size_t n = 0; n < p.n; ++n) {
      float acc = 0.0f;
      for (size_t g = 0; g < groups; ++g) {
        int32_t isum = 0, asum = 0;
        for (size_t j = g * p.group_size; j < (g + 1) * p.group_size; ++j) {
          const int32_t a = qa[j] - rq.zero_point;
          isum += a * (static_cast<int32_t>(p.q[n * p.k + j]) - 8);
          asum += a;
        }
        acc = std::fma(p.scale[n * groups + g], static_cast<float>(isum), acc);
        acc = std::fma(p.zero[n * groups + g], static_cast<float>(asum), acc);
      }
      y[i * p.n + n] = epilogue(n, rq.scale * acc);
    }
  }
}

void IntxDq8Linear(const LinearWeights& w, const float* x, size_t m,
                   const Epilogue& epilogue, float* y) {
  const IntxPlainWeights& p = w.intx;
  const size_t groups = p.k / p.group_size;
  std::vector<int8_t> qa(p.k);
  for (size_t i = 0; i < m; ++i) {
    const RowQParams rq =
        QuantizeActivationRow(x + i * p.k, p.k, w.act_scale_floor, qa.data());
    for (size_t n = 0; n < p.n; ++n) {
      float acc = 0.0f;
      for (size_t g = 0; g < groups; ++g) {
        const int32_t zw = p.zero_point[n * groups + g];
        int32_t isum = 0;
        for (size_t j = g * p.group_size; j < (g + 1) * p.group_size; ++j) {
          isum += (qa[j] - rq.zero_point) *
                  (static_cast<int32_t>(p.q[n * p.k + j]) - zw);
        }
        acc = std::fma(rq.scale * p.scale[n * groups + g],
                       static_cast<float>(isum), acc);
      }
      y[i * p.n + n] = epilogue(n, acc);
    }
  }
}

}  // namespace

void DequantizeWeights(const LinearWeights& w, float* w_hat) {
  for (size_t n = 0; n < w.n; ++n) DequantizeRow(w, n, w_hat + n * w.k);
}

void Fp32Linear(const float* w, size_t n, size_t k, const float* bias,
                DType dtype, const float* x, size_t m, Activation activation,
                float* y) {
  for (size_t j = 0; j < n; ++j) {
    const float* wr = w + j * k;
    for (size_t i = 0; i < m; ++i) {
      const float* xr = x + i * k;
      float acc = 0.0f;
      for (size_t kk = 0; kk < k; ++kk) acc = std::fma(xr[kk], wr[kk], acc);
      y[i * n + j] = EpilogueValue(acc, bias, j, activation, dtype);
    }
  }
}

void Linear(const LinearWeights& w, const float* x, size_t m, ActQuant mode,
            Activation activation, float* y) {
  const Epilogue epilogue{w, activation};
  if (w.format == WeightFormat::kFp32) {
    // fp32 layers ignore the mode.
    Fp32Linear(w.fp32.data(), w.n, w.k,
               w.bias.empty() ? nullptr : w.bias.data(), w.dtype, x, m,
               activation, y);
  } else if (mode == ActQuant::kInt8AsymPerToken &&
             w.format == WeightFormat::kInt4Opaque) {
    Int4Dq8Linear(w, x, m, epilogue, y);
  } else if (mode == ActQuant::kInt8AsymPerToken &&
             w.format == WeightFormat::kIntxOpaque) {
    IntxDq8Linear(w, x, m, epilogue, y);
  } else {
    FloatLinear(w, x, m, epilogue, y);  // weight-only
  }
}

void LinearDouble(const LinearWeights& w, const float* x, size_t m,
                  double* acc) {
  std::vector<float> w_hat(w.k);
  for (size_t n = 0; n < w.n; ++n) {
    DequantizeRow(w, n, w_hat.data());
    for (size_t i = 0; i < m; ++i) {
      double s = 0.0;
      for (size_t k = 0; k < w.k; ++k) {
        s +=
            static_cast<double>(x[i * w.k + k]) * static_cast<double>(w_hat[k]);
      }
      acc[i * w.n + n] = s;
    }
  }
}

}  // namespace qlinear::reference
