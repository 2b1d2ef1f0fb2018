// model/'s way of carrying an error in a return type (Boost.Outcome, the same type lsp/
// uses; model/ does not include lsp/). value() on an error terminates: check first.
#pragma once

#include <string>

#include <boost/outcome/result.hpp>
#include <boost/outcome/success_failure.hpp>

namespace mnemo::model {

template <class T, class E>
using Result = boost::outcome_v2::result<T, E, boost::outcome_v2::policy::terminate>;

using boost::outcome_v2::success;

}  // namespace mnemo::model
