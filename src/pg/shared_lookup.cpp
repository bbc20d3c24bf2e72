#include "pg/shared_lookup.h"

namespace relay::pg {

Result<bool> SharedLookup::contains(const std::string& value) {
  std::lock_guard lock(mu_);  // one asks; the others wait for its answer rather than ask too
  auto now = std::chrono::steady_clock::now();
  if (!answered_ || now - asked_ >= max_age_) {
    auto lease = pool_.try_borrow();
    if (!lease) return lease.error();
    if (*lease) {
      auto r = (*lease)->exec(sql_);
      if (!r) return r.error();
      values_.clear();
      for (int i = 0; i < r->rows(); ++i) values_.insert(r->str(i, 0));
      asked_ = now;
      answered_ = true;
    } else if (!answered_) {
      return true;  // no answer yet and none to be had now: the caller looks for itself
    }
  }
  return values_.count(value) > 0;
}

}  // namespace relay::pg
