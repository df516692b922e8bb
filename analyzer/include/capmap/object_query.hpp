// capmap object ADDR: every object whose extent contains an address, with
// its lifetime and the accesses recorded for it.
#pragma once

#include <string>
#include <vector>

#include "capmap/kmap.hpp"
#include "capmap/report.hpp"
#include "capmap/scan.hpp"
#include "capmap/symbols.hpp"

namespace capmap {

struct FoundObject : ObjectFields {
	std::string allocator, comm, slab_cache;
	std::vector<AccessRecord> accesses;
};

class alignas(kVisitorAlignment) ObjectQueryVisitor {
public:
	explicit ObjectQueryVisitor(uint64_t address) : address_(address) {}
	void on_object(const ObjectRecord &object);
	void on_access(const AccessRecord &access);
	void on_object_end() { collecting_ = false; }
	void merge(const ObjectQueryVisitor &other);
	// Orders the objects by allocation time (then address).
	void finish();

	std::vector<FoundObject> found;

private:
	uint64_t address_;
	bool collecting_ = false;
};

std::string render_objects(const ObjectQueryVisitor &query, uint64_t address, const ScanStats &stats,
			   OutputFormat format, const SymbolTable *symbols);

} // namespace capmap
