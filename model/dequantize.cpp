#include "model/dequantize.h"

#include <cstring>

namespace mnemo::model {

float fp16_to_fp32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1F;
  std::uint32_t mantissa = h & 0x3FF;
  std::uint32_t bits = 0;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3FF;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float bf16_to_fp32(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

namespace {

std::uint16_t u16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
float half(const std::uint8_t* p) {
  return fp16_to_fp32(u16(p));
}

// Block layouts (bytes): see gguf_type_traits for their sizes.
void q4_0(const std::uint8_t* b, float* y) {  // d, qs[16]
  const float d = half(b);
  const std::uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void q4_1(const std::uint8_t* b, float* y) {  // d, m, qs[16]
  const float d = half(b), m = half(b + 2);
  const std::uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

void q5_0(const std::uint8_t* b, float* y) {  // d, qh[4], qs[16]
  const float d = half(b);
  std::uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const std::uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const std::uint8_t xh0 = static_cast<std::uint8_t>(((qh >> j) << 4) & 0x10);
    const std::uint8_t xh1 = static_cast<std::uint8_t>((qh >> (j + 12)) & 0x10);
    y[j] = static_cast<float>(((qs[j] & 0x0F) | xh0) - 16) * d;
    y[j + 16] = static_cast<float>(((qs[j] >> 4) | xh1) - 16) * d;
  }
}

void q5_1(const std::uint8_t* b, float* y) {  // d, m, qh[4], qs[16]
  const float d = half(b), m = half(b + 2);
  std::uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const std::uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const std::uint8_t xh0 = static_cast<std::uint8_t>(((qh >> j) << 4) & 0x10);
    const std::uint8_t xh1 = static_cast<std::uint8_t>((qh >> (j + 12)) & 0x10);
    y[j] = static_cast<float>((qs[j] & 0x0F) | xh0) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) | xh1) * d + m;
  }
}

void q8_0(const std::uint8_t* b, float* y) {  // d, qs[32] (int8)
  const float d = half(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(b[2 + j])) * d;
}

void scale_min_k4(int j, const std::uint8_t* q, std::uint8_t* d, std::uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

void q4_k(const std::uint8_t* b, float* y) {  // d, dmin, scales[12], qs[128]
  const float d = half(b), min = half(b + 2);
  const std::uint8_t* scales = b + 4;
  const std::uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < 256; j += 64) {
    std::uint8_t sc, m;
    scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = min * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

void q5_k(const std::uint8_t* b, float* y) {  // d, dmin, scales[12], qh[32], qs[128]
  const float d = half(b), min = half(b + 2);
  const std::uint8_t* scales = b + 4;
  const std::uint8_t* qh = b + 16;
  const std::uint8_t* ql = b + 48;
  int is = 0;
  std::uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    std::uint8_t sc, m;
    scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = min * m;
    scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = min * m;
    for (int l = 0; l < 32; ++l)
      *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l)
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    ql += 32;
    is += 2;
    u1 = static_cast<std::uint8_t>(u1 << 2);
    u2 = static_cast<std::uint8_t>(u2 << 2);
  }
}

void q6_k(const std::uint8_t* b, float* y) {  // ql[128], qh[64], scales[16] (int8), d
  const std::uint8_t* ql = b;
  const std::uint8_t* qh = b + 128;
  const std::int8_t* sc = reinterpret_cast<const std::int8_t*>(b + 192);
  const float d = half(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l + 0] = d * sc[is + 0] * static_cast<float>(q1);
      y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
      y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
      y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

Result<bool, DequantizeError> dequantize(std::uint32_t type, const std::uint8_t* src, float* dst,
                                         std::size_t n) {
  const auto traits = gguf_type_traits(type);
  if (!traits) return DequantizeError{"unknown tensor type " + std::to_string(type)};
  if (n % traits->block_elements != 0)
    return DequantizeError{std::to_string(n) + " elements is not a whole number of " +
                           traits->name + " blocks"};
  void (*block)(const std::uint8_t*, float*) = nullptr;
  switch (static_cast<GgufType>(type)) {
    case GgufType::kF32:
      std::memcpy(dst, src, n * 4);
      return true;
    case GgufType::kF16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(u16(src + 2 * i));
      return true;
    case GgufType::kBF16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(u16(src + 2 * i));
      return true;
    case GgufType::kQ4_0:
      block = q4_0;
      break;
    case GgufType::kQ4_1:
      block = q4_1;
      break;
    case GgufType::kQ5_0:
      block = q5_0;
      break;
    case GgufType::kQ5_1:
      block = q5_1;
      break;
    case GgufType::kQ8_0:
      block = q8_0;
      break;
    case GgufType::kQ4_K:
      block = q4_k;
      break;
    case GgufType::kQ5_K:
      block = q5_k;
      break;
    case GgufType::kQ6_K:
      block = q6_k;
      break;
    default:
      return DequantizeError{std::string("dequantizing ") + traits->name + " is not supported"};
  }
  for (std::size_t b = 0; b < n / traits->block_elements; ++b)
    block(src + b * traits->block_bytes, dst + b * traits->block_elements);
  return true;
}

}  // namespace mnemo::model
