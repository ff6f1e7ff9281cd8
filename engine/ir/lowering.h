// The lowering pass's state, shared by the files that implement it: lower.cpp (names, statements, dense,
// terms, objective) and lower_spatial.cpp (conv, pool, reshape). Internal to the ir layer.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "frontend/ast.h"
#include "ir/graph.h"
#include "ir/lower_util.h"
#include "ir/templates.h"

namespace hg::detail {

inline const std::vector<std::string> kOps = {"dense",  "relu",     "sigmoid", "tanh",    "linear", "softmax",
                                              "conv2d", "deconv2d", "maxpool", "avgpool", "reshape"};

class Lowering {
 public:
  Lowering(const ast::Program& program, const PluginRegistry& plugins)
      : program_(program), plugins_(plugins) {}

  Graph run(const std::string& text) {
    graph_.file = program_.file;
    graph_.source_hash = fnv1a_hex(text);
    collect_definitions();
    for (const ast::Statement& s : program_.statements) {
      switch (s.kind) {
        case ast::Statement::Kind::Data:
          lower_data(s);
          break;
        case ast::Statement::Kind::Train:
          lower_train_block(s);
          break;
        case ast::Statement::Kind::Input:
        case ast::Statement::Kind::Assign:
          if (s.name != "loss") resolve(s.name, s.name_location);
          break;
        case ast::Statement::Kind::Include:  // parse_graph_file splices included files in
          sink_.error(s.location, "include is only resolved when the graph is read from a file");
          break;
        case ast::Statement::Kind::Def:  // collected up front; expanded where called
        case ast::Statement::Kind::Freeze:
        case ast::Statement::Kind::LrMult:  // applied once every parameter exists
          break;
      }
    }
    lower_objective();
    check_selection(graph_, sink_);
    apply_parameter_rules(program_, graph_, sink_);
    if (sink_.has_errors()) {
      std::vector<Diagnostic> all = sink_.diagnostics();  // names resolve on demand; report in file order
      std::stable_sort(all.begin(), all.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.where.file, a.where.line, a.where.column) <
               std::tie(b.where.file, b.where.line, b.where.column);
      });
      throw Error(all);
    }
    verify(graph_);
    return std::move(graph_);
  }

 private:
  // ---- names -------------------------------------------------------------------------------------------
  void collect_definitions() {
    for (const ast::Statement& s : program_.statements) {
      if (s.kind == ast::Statement::Kind::Def) {
        auto [it, inserted] = templates_.emplace(s.name, &s);
        const bool clashes = std::count(kOps.begin(), kOps.end(), s.name) > 0;
        if (!inserted || clashes)
          sink_
              .error(s.name_location,
                     clashes ? "'" + s.name + "' is a built-in op; give the template another name"
                             : "template '" + s.name + "' is already defined")
              .notes.push_back({Severity::Note, it->second->name_location, "first defined here", {}});
        continue;
      }
      if (s.kind != ast::Statement::Kind::Assign && s.kind != ast::Statement::Kind::Input) continue;
      auto [it, inserted] = definitions_.emplace(s.name, &s);
      if (!inserted) {
        duplicated_.insert(s.name);
        sink_.error(s.name_location, "'" + s.name + "' is already defined")
            .notes.push_back({Severity::Note, it->second->name_location, "first defined here", {}});
      }
    }
  }

  std::vector<std::string> known_names() const {
    std::vector<std::string> names;
    for (const auto& [name, statement] : definitions_)
      if (name != "loss") names.push_back(name);
    for (NodeId p : graph_.parameters) names.push_back(graph_.node(p).name);
    return names;
  }

  // The node a use of `name` refers to, lowering its statement on first use; kNoNode after an error. A name
  // defined twice resolves to nothing, since whichever definition was picked, its errors would mislead.
  NodeId resolve(const std::string& name, const SourceLocation& where) {
    const NodeId id = lower_definition(name, where);
    return duplicated_.count(name) ? kNoNode : id;
  }

  NodeId lower_definition(const std::string& name, const SourceLocation& where) {
    if (auto it = lowered_.find(name); it != lowered_.end()) return it->second;
    auto def = definitions_.find(name);
    if (def == definitions_.end() || name == "loss") return resolve_parameter(name, where);
    if (std::find(stack_.begin(), stack_.end(), name) != stack_.end()) {
      std::string path;
      for (auto it = std::find(stack_.begin(), stack_.end(), name); it != stack_.end(); ++it)
        path += *it + " -> ";
      sink_.error(where, "cycle: '" + name + "' depends on itself (" + path + name + ")");
      return lowered_[name] = kNoNode;
    }
    stack_.push_back(name);
    const ast::Statement* outer_statement = current_;  // a use before its definition interrupts a statement
    const ast::Expr* outer_parametric = parametric_;
    const ast::Statement& s = *def->second;
    NodeId id = s.kind == ast::Statement::Kind::Input ? lower_input(s) : lower_value(s);
    current_ = outer_statement;
    parametric_ = outer_parametric;
    stack_.pop_back();
    if (auto it = lowered_.find(name); it != lowered_.end()) return it->second;  // set by a cycle report
    return lowered_[name] = id;
  }

  // `node.weights` / `node.bias`: lower the owning statement, then find the parameter.
  NodeId resolve_parameter(const std::string& name, const SourceLocation& where) {
    const size_t dot = name.rfind('.');
    if (dot != std::string::npos && definitions_.count(name.substr(0, dot))) {
      const std::string owner = name.substr(0, dot);
      if (resolve(owner, where) == kNoNode) return kNoNode;  // reported already
      if (NodeId id = graph_.find(name); id != kNoNode && graph_.node(id).op == OpKind::Parameter) return id;
      const std::vector<std::string> owned = parameters_of(owner);
      std::string message = "'" + owner + "' has no parameter '" + name.substr(dot + 1) + "'";
      if (owned.empty())
        message += "; only dense creates parameters";
      else if (std::string hint = did_you_mean(name, owned); !hint.empty())
        message += hint;
      else
        message += "; its parameters are '" + join(owned, "', '") + "'";
      sink_.error(where, message);
      return kNoNode;
    }
    if (name == "loss") {
      sink_.error(where, "'loss' is the objective and cannot be used as a value");
      return kNoNode;
    }
    sink_.error(where, "unknown name '" + name + "'" + did_you_mean(name, known_names()));
    return kNoNode;
  }

  std::vector<std::string> parameters_of(const std::string& owner) const {
    std::vector<std::string> names;
    for (NodeId p : graph_.parameters)
      if (graph_.node(p).name.rfind(owner + ".", 0) == 0) names.push_back(graph_.node(p).name);
    return names;
  }

  static std::string join(const std::vector<std::string>& parts, const std::string& separator) {
    std::string out;
    for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
    return out;
  }

  // Where a value comes from, for notes: the name of its statement, or the op that created a parameter.
  SourceLocation definition_of(const Node& node) const {
    auto it = definitions_.find(node.name);
    return it != definitions_.end() ? it->second->name_location : node.location;
  }

  // ---- statements --------------------------------------------------------------------------------------
  NodeId lower_input(const ast::Statement& s) {
    if (s.source != "image" && s.source != "label") {
      // 'train.image': the data set is chosen when running, so only the field is written here.
      const std::string field = s.source.substr(s.source.rfind('.') + 1);
      const std::string hint = field == "image" || field == "label" ? " (did you mean '" + field + "'?)"
                                                                    : did_you_mean(field, {"image", "label"});
      sink_.error(s.source_location,
                  "unknown data field '" + s.source + "'" + hint + "; an input reads 'image' or 'label'");
      return kNoNode;
    }
    if (s.source == "label" && s.shape.size() != 1) {
      sink_.error(s.shape_location,
                  "a label input is one-hot and needs one dimension, the number of classes");
      return kNoNode;
    }
    Node n;
    n.op = OpKind::Input;
    n.name = s.name;
    n.location = s.name_location;
    n.dims = s.shape;
    n.batched = true;
    n.source = s.source;
    return graph_.add(std::move(n));
  }

  NodeId lower_value(const ast::Statement& s) {
    current_ = &s;
    parametric_ = nullptr;
    NodeId id = lower_expr(*s.value);
    if (id == kNoNode) return kNoNode;
    if (s.value->kind != ast::Expr::Kind::Name) {
      graph_.nodes[id].name = s.name;  // the statement names the node its last op created
      return id;
    }
    // `a = b`: b keeps its own node and name. A parameter is simply known by both names (activation kernels
    // run over a batch, which a parameter has not); anything else gets a linear activation named a.
    if (!graph_.node(id).batched) return id;
    Node alias;
    alias.op = OpKind::Activation;
    alias.name = s.name;
    alias.location = s.value->location;
    alias.inputs = {id};
    alias.dims = graph_.node(id).dims;
    alias.batched = graph_.node(id).batched;
    return graph_.add(std::move(alias));
  }

  void lower_train_block(const ast::Statement& s) {
    if (train_block_) {
      sink_.error(s.location, "a second train block; put all settings in one")
          .notes.push_back({Severity::Note, train_block_->location, "the first train block is here", {}});
      return;
    }
    train_block_ = &s;
    lower_train(s, sink_, graph_.train);
  }

  void lower_data(const ast::Statement& s) {
    for (const DataBinding& b : graph_.data)
      if (b.name == s.name) {
        sink_.error(s.name_location, "data '" + s.name + "' is already defined")
            .notes.push_back({Severity::Note, b.location, "first defined here", {}});
        return;
      }
    if (auto binding = lower_data_binding(s, sink_)) graph_.data.push_back(*binding);
  }

  // ---- expressions -------------------------------------------------------------------------------------
  NodeId lower_expr(const ast::Expr& e) {
    switch (e.kind) {
      case ast::Expr::Kind::Name:
        return resolve(e.text, e.location);
      case ast::Expr::Kind::Call:
        return lower_call(e);
      default:
        sink_.error(e.location,
                    "expected a value such as a name or an op call, found '" + ast::to_string(e) + "'");
        return kNoNode;
    }
  }

  NodeId lower_call(const ast::Expr& call) {
    const std::string& callee = call.text;
    if (callee == "dense") return lower_dense(call);
    if (callee == "conv2d" || callee == "deconv2d") return lower_conv(call, callee == "deconv2d");
    if (callee == "maxpool" || callee == "avgpool") return lower_pool(call, callee == "maxpool");
    if (callee == "reshape") return lower_reshape(call);
    Activation activation;
    if (parse_activation(callee, &activation)) return lower_activation(call, activation);
    if (auto it = templates_.find(callee); it != templates_.end()) return expand_template(call, *it->second);
    if (const TermRef* term = plugins_.find(callee)) {
      if (term->term->kind == HG_TERM_CORRUPTION) return lower_term(call, *term, OpKind::Corrupt);
      sink_.error(call.location, "'" + callee + "' is a " + term_kind_name(term->term->kind) +
                                     " term; it can only appear in 'loss = ...'");
      return kNoNode;
    }
    report_unknown_callee(call);
    return kNoNode;
  }

  // A def's body, with its parameters replaced by the call's arguments, lowered as if written in place.
  // Errors inside it get a note pointing at the call.
  NodeId expand_template(const ast::Expr& call, const ast::Statement& def) {
    if (std::count(expanding_.begin(), expanding_.end(), def.name) || expanding_.size() > 32) {
      sink_.error(call.location,
                  "template '" + def.name + "' uses itself, so it would never finish expanding");
      return kNoNode;
    }
    std::map<std::string, const ast::Expr*> arguments;
    if (!bind_template_arguments(def, call, sink_, arguments)) return kNoNode;
    expansions_.push_back(substitute(*def.value, arguments));
    expanding_.push_back(def.name);
    const size_t first_error = sink_.count();
    const NodeId id = lower_expr(*expansions_.back());
    expanding_.pop_back();
    sink_.note_since(first_error, call.location, "in template '" + def.name + "' used here");
    return id;
  }

  // Also lowers the call's value arguments, so that their own mistakes are reported in the same run.
  void report_unknown_callee(const ast::Expr& call) {
    std::vector<std::string> candidates = kOps;
    for (const auto& [name, def] : templates_) candidates.push_back(name);
    for (const std::string& t : plugins_.term_names()) candidates.push_back(t);
    const bool is_term = call.text.find('.') != std::string::npos;
    std::string hint = did_you_mean(call.text, candidates);
    if (is_term && hint.empty()) hint = namespace_terms(call.text.substr(0, call.text.rfind('.')));
    Diagnostic& d = sink_.error(
        call.location, std::string(is_term ? "unknown term '" : "unknown op '") + call.text + "'" + hint);
    if (is_term)
      for (const Diagnostic& failed : plugins_.load_errors())
        d.notes.push_back(
            {Severity::Note, failed.where, "a plugin that failed to load: " + failed.message, {}});
    for (const ast::Arg& arg : call.args)  // after the notes: lowering may add diagnostics and move `d`
      if (arg.keyword.empty() &&
          (arg.value->kind == ast::Expr::Kind::Name || arg.value->kind == ast::Expr::Kind::Call))
        lower_expr(*arg.value);
  }

  // "; 'reg' provides 'reg.l1' and 'reg.l2'" when no name is close, or which namespaces the plugins provide.
  std::string namespace_terms(const std::string& name_space) const {
    std::vector<std::string> in_namespace, namespaces;
    for (const std::string& t : plugins_.term_names()) {
      const std::string prefix = t.substr(0, t.rfind('.'));
      if (prefix == name_space) in_namespace.push_back(t);
      if (std::find(namespaces.begin(), namespaces.end(), prefix) == namespaces.end())
        namespaces.push_back(prefix);
    }
    if (!in_namespace.empty()) return "; '" + name_space + "' provides '" + join(in_namespace, "', '") + "'";
    if (namespaces.empty()) return "; no term plugins are loaded";
    return "; no plugin provides '" + name_space + "' (loaded: '" + join(namespaces, "', '") + "')";
  }

  // Positional arguments are inputs; keyword arguments are attributes checked by the op.
  std::vector<NodeId> lower_inputs(const ast::Expr& call, size_t count, const char* what) {
    std::vector<NodeId> inputs;
    for (const ast::Arg& arg : call.args)
      if (arg.keyword.empty() && inputs.size() < count) inputs.push_back(lower_expr(*arg.value));
    if (inputs.size() < count)
      sink_.error(call.location, std::string(what) + " '" + call.text + "' expects " + std::to_string(count) +
                                     " input" + (count == 1 ? "" : "s") + ", got " +
                                     std::to_string(inputs.size()));
    for (NodeId id : inputs)
      if (id == kNoNode) return {};
    return inputs.size() == count ? inputs : std::vector<NodeId>{};
  }

  NodeId lower_activation(const ast::Expr& call, Activation activation) {
    if (!check_arguments(call, 1, {}, sink_)) return kNoNode;
    std::vector<NodeId> inputs = lower_inputs(call, 1, "op");
    if (inputs.empty()) return kNoNode;
    const Node& src = graph_.node(inputs[0]);
    if (!src.batched) {
      sink_.error(positional(call, 0)->value->location, std::string(activation_name(activation)) +
                                                            " expects a batch of samples, but '" + src.name +
                                                            "' is a parameter");
      return kNoNode;
    }
    Node n;
    n.op = OpKind::Activation;
    n.name = current_->name + "." + activation_name(activation);
    n.location = call.location;
    n.inputs = inputs;
    n.dims = src.dims;
    n.batched = true;
    n.activation = activation;
    return graph_.add(std::move(n));
  }

  NodeId lower_dense(const ast::Expr& call);
  // lower_spatial.cpp: convolutions, pooling and reshape on [C, H, W] samples.
  NodeId lower_conv(const ast::Expr& call, bool transposed);
  NodeId lower_pool(const ast::Expr& call, bool max);
  NodeId lower_reshape(const ast::Expr& call);
  bool claim_parameters(const ast::Expr& call, const char* op);
  NodeId lower_term(const ast::Expr& call, const TermRef& term, OpKind op);
  NodeId add_parameter(const std::string& suffix, std::vector<int64_t> dims, const SourceLocation& where);
  void lower_objective();
  bool collect_terms(const ast::Expr& e, double weight, std::vector<std::pair<double, NodeId>>& terms);

  const ast::Program& program_;
  const PluginRegistry& plugins_;
  DiagnosticSink sink_;
  Graph graph_;
  std::map<std::string, const ast::Statement*> definitions_;
  std::map<std::string, const ast::Statement*> templates_;  // def statements by name
  std::vector<ast::ExprPtr> expansions_;                    // expanded template bodies, alive while lowering
  std::vector<std::string> expanding_;                      // templates being expanded, innermost last
  std::set<std::string> duplicated_;                        // names with more than one definition
  const ast::Statement* train_block_ = nullptr;
  std::map<std::string, NodeId> lowered_;
  std::vector<std::string> stack_;
  const ast::Statement* current_ = nullptr;
  const ast::Expr* parametric_ = nullptr;  // the op that owns the current statement's parameters
};

}  // namespace hg::detail
