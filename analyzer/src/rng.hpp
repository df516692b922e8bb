// The generators' random numbers: splitmix64, the same sequence on every host.
#pragma once

#include <cmath>
#include <cstdint>

namespace capmap::detail {

class Rng {
public:
	explicit Rng(uint64_t seed) : state_(seed) {}
	uint64_t next()
	{
		uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		return z ^ (z >> 31);
	}
	double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
	uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
	// Skewed towards 0: a few hot entries get most of the picks.
	uint64_t skewed(uint64_t n, double power = 3.0) { return static_cast<uint64_t>(static_cast<double>(n) * std::pow(uniform(), power)); }

private:
	uint64_t state_;
};

} // namespace capmap::detail
