// Docstrings of the bound ops. What a family shares (out=, dtypes, PyTorch differences common to
// all) is said once, in the pybench.ops module docstring; each op's own text lives at its m.def.
#pragma once
#include <string>

namespace pb::bind {

// `text`, then where the implementations are listed: the list lives in the op's table, so the
// docstring does not change when an implementation is added or dropped.
inline std::string op_doc(const std::string& op, const std::string& text) {
  return text + "\n\nimpl: None for the default, or a name from impls('" + op + "');\nimpl_info('" + op +
         "') says what each does and which is the default.";
}

}  // namespace pb::bind
