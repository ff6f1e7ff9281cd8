// The syntax tree of a graph file, exactly as written: no names resolved, no shapes. Every node keeps the
// source location of its first token so later passes can point errors at it.
//
//   file        := { statement NEWLINE }            comments run from '#' to the end of the line
//   statement   := 'data' NAME '=' expr                       data binding: idx(images="...", ...)
//                | 'input' NAME ':' shape '<-' NAME           shape := '[' INT { ',' INT } ']'
//                | NAME '=' expr                              a named value (the name 'loss' is the objective)
//                | 'train' '{' { NAME '=' expr [','] } '}'    may span lines
//   expr        := sum { '|>' callee [ '(' args ')' ] }       a |> f(b) means f(a, b)
//   sum         := product { ('+' | '-') product }
//   product     := unary { ('*' | '/') unary }
//   unary       := '-' unary | primary
//   primary     := NUMBER | STRING | NAME | NAME '(' [ args ] ')' | '(' expr ')'
//   args        := arg { ',' arg } ;  arg := [ NAME '=' ] expr
// NAME may be dotted (loss.bce, code.weights). Newlines inside ( ) [ ] { } do not end a statement.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace hg::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Arg {
  std::string keyword;  // empty for a positional argument
  SourceLocation location;
  ExprPtr value;
};

struct Expr {
  enum class Kind { Number, String, Name, Call, Binary, Negate };
  Kind kind = Kind::Number;
  SourceLocation location;
  double number = 0;      // Number
  std::string text;       // String: its value; Name: the (dotted) name; Call: the callee
  std::vector<Arg> args;  // Call
  char op = 0;            // Binary: '+', '-', '*', '/'
  ExprPtr lhs, rhs;       // Binary (lhs, rhs), Negate (lhs)
};

struct Statement {
  enum class Kind { Data, Input, Assign, Train };
  Kind kind = Kind::Assign;
  SourceLocation location;       // the statement's first token
  std::string name;              // Data, Input, Assign
  SourceLocation name_location;
  ExprPtr value;                 // Data, Assign
  std::vector<int64_t> shape;    // Input
  SourceLocation shape_location;
  std::string source;            // Input: the field of the data it reads ("image" or "label")
  SourceLocation source_location;
  std::vector<Arg> settings;     // Train
};

struct Program {
  std::string file;
  std::vector<Statement> statements;
};

// Renders an expression back to text, for messages and `check` output.
std::string to_string(const Expr& expr);

}  // namespace hg::ast
