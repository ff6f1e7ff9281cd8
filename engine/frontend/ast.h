// The syntax tree of a graph file, exactly as written: no names resolved, no shapes. Every node keeps the
// source location of its first token so later passes can point errors at it.
//
//   file        := { statement NEWLINE }            comments run from '#' to the end of the line
//   statement   := 'data' NAME '=' expr                       data binding: idx(images="...", ...)
//                | 'input' NAME ':' shape '<-' NAME           shape := '[' INT { ',' INT } ']'
//                | NAME '=' expr                              a named value (the name 'loss' is the
//                objective) | 'train' '{' { NAME '=' expr [','] } '}'    may span lines | 'include' STRING
//                another graph file's statements, in place | 'def' NAME '(' [ NAME { ',' NAME } ] ')' '='
//                expr      a template, expanded where called | 'freeze' STRING parameters matching the glob
//                are not trained | 'lr_mult' STRING '=' expr                  their learning rate is
//                multiplied
//   expr        := sum { '|>' callee [ '(' args ')' ] }       a |> f(b) means f(a, b)
//   sum         := product { ('+' | '-') product }
//   product     := unary { ('*' | '/') unary }
//   unary       := '-' unary | primary
//   primary     := NUMBER | STRING | NAME | NAME '(' [ args ] ')' | '(' expr ')'
//                | '[' [ expr { ',' expr } ] ']'          a list, for data options (classes=[5, 6])
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
  enum class Kind { Number, String, Name, Call, Binary, Negate, List };
  Kind kind = Kind::Number;
  SourceLocation location;
  double number = 0;      // Number
  std::string text;       // String: its value; Name: the (dotted) name; Call: the callee
  std::vector<Arg> args;  // Call; List: the elements (positional)
  char op = 0;            // Binary: '+', '-', '*', '/'
  ExprPtr lhs, rhs;       // Binary (lhs, rhs), Negate (lhs)
};

struct Statement {
  enum class Kind { Data, Input, Assign, Train, Include, Def, Freeze, LrMult };
  Kind kind = Kind::Assign;
  SourceLocation location;  // the statement's first token
  std::string name;         // Data, Input, Assign, Def
  SourceLocation name_location;
  ExprPtr value;               // Data, Assign, Def (the body), LrMult
  std::vector<int64_t> shape;  // Input
  SourceLocation shape_location;
  std::string source;  // Input: the data field ("image" or "label"); Include: the path;
                       // Freeze, LrMult: the parameter-name glob
  SourceLocation source_location;
  std::vector<Arg> settings;                    // Train
  std::vector<std::string> params;              // Def
  std::vector<SourceLocation> param_locations;  // Def
};

struct Program {
  std::string file;
  std::vector<Statement> statements;  // with included files' statements spliced in place of each include
  std::string source_text;            // every file read, in order: what a checkpoint's graph hash covers
};

// Renders an expression back to text, for messages and `check` output.
std::string to_string(const Expr& expr);

}  // namespace hg::ast
