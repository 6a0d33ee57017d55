// SHA-256 (OpenSSL): of bytes as 64 lowercase hex digits or as base64, and HMAC-SHA256 as hex.
#pragma once
#include <string>
#include <string_view>

namespace skein {

std::string sha256_hex(std::string_view bytes);
std::string sha256_base64(std::string_view bytes);
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

}  // namespace skein
