// SHA-256 of bytes, as 64 lowercase hex digits (OpenSSL).
#pragma once
#include <string>

namespace skein {

std::string sha256_hex(const std::string& bytes);

}  // namespace skein
