"""The ROS modules use only rclpy API that ROS 2 Humble's rclpy has (Humble wheels are not on PyPI: no live run).

An ``ast`` scan of ``seg_ros/ros/*.py`` lists every rclpy name the modules use: imports (``from rclpy.qos import
QoSProfile``), module attributes (``rclpy.logging.get_logger``), members of rclpy objects reached through a simple
type inference (``Node`` subclasses and annotated parameters, ``rclpy.create_node()``, ``create_publisher()``,
``get_clock().now()`` …; see ``RETURNS``) and the keyword arguments of every call to rclpy. Each must be in
``HUMBLE_RCLPY`` below, which was written from Humble's sources, not from a running rclpy:

    fetch github:ros2/rclpy; git show humble:rclpy/rclpy/<module>.py
    branch humble at commit b488272b1ba88c703080bfd605417f013697ee40 (2024-11-25), read 2026-12-01

Where rclpy is importable (the kilted and jazzy venvs) the same uses are also resolved on the live rclpy, so the
scan and its type inference are checked against a real rclpy too; a synthetic module shows the check can fail.
Result of the check (docs/humble.md): everything the node, its harness and the demo use exists in Humble, with
the keyword arguments they pass (``create_subscription(raw=, qos_overriding_options=)``, ``rclpy.init(
domain_id=)``, ``Executor.shutdown(timeout_sec=)``, ``rclpy.try_shutdown(context=)``, ``rclpy.lifecycle``): no
name needs a fallback. One behaviour differs (a lifecycle transition the current state lacks raises out of
``~/change_state`` in Humble and Jazzy): ``seg_ros.ros.managed_node`` handles it, test_node_lifecycle checks it.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROS_MODULES = sorted((REPO / "seg_ros" / "ros").glob("*.py"))

# Humble's rclpy, per module and per class: public members; ``name(a b c)`` is a callable with those parameters
# (``**``: it takes any keyword). Classes list inherited members too (instance attributes set in ``__init__`` are
# left out). Modules list the names they define or re-export from rclpy (``rclpy.ok`` is rclpy.utilities.ok), and
# the submodules reachable as attributes. QoSProfile.__init__ takes ``**kwargs`` checked against its slots (listed).
HUMBLE_RCLPY = """
[rclpy]
init(args context domain_id signal_handler_options) shutdown(context uninstall_handlers)
create_node(node_name context cli_args namespace use_global_arguments enable_rosout start_parameter_services
  parameter_overrides allow_undeclared_parameters automatically_declare_parameters_from_overrides)
spin(node executor) spin_once(node executor timeout_sec) spin_until_future_complete(node future executor timeout_sec)
get_global_executor() ok(context) try_shutdown(context) get_default_context(shutting_down)
get_rmw_implementation_identifier() Context Parameter Future SignalHandlerOptions install_signal_handlers
uninstall_signal_handlers
callback_groups clock context duration exceptions executors logging node parameter publisher qos
qos_overriding_options serialization subscription time timer utilities impl
[rclpy.utilities]
ok(context) shutdown(context) try_shutdown(context) get_default_context(shutting_down) remove_ros_args(args)
get_rmw_implementation_identifier() timeout_sec_to_nsec(timeout_sec) get_available_rmw_implementations()
[rclpy.logging]
get_logger(name) initialize() shutdown() clear_config() set_logger_level(name level) get_logger_effective_level(name)
get_logging_directory() get_logging_severity_from_string(log_severity) LoggingSeverity
[rclpy.exceptions]
NotInitializedException NoTypeSupportImportedException NameValidationException InvalidNamespaceException
InvalidNodeNameException InvalidTopicNameException InvalidServiceNameException ParameterException
ParameterNotDeclaredException ParameterAlreadyDeclaredException InvalidParameterException
InvalidParameterValueException InvalidParameterTypeException ParameterImmutableException
ParameterUninitializedException ROSInterruptException
[rclpy.node]
Node
[rclpy.node.Node]
__init__(node_name context cli_args namespace use_global_arguments enable_rosout start_parameter_services
  parameter_overrides allow_undeclared_parameters automatically_declare_parameters_from_overrides)
PARAM_REL_TOL publishers subscriptions clients services timers guards waitables executor context handle
default_callback_group
get_name() get_namespace() get_clock() get_logger() get_fully_qualified_name()
declare_parameter(name value descriptor ignore_override) declare_parameters(namespace parameters ignore_override)
undeclare_parameter(name) has_parameter(name) get_parameter_types(names) get_parameter_type(name)
get_parameters(names) get_parameter(name) get_parameter_or(name alternative_value) get_parameters_by_prefix(prefix)
set_parameters(parameter_list) set_parameters_atomically(parameter_list)
add_on_set_parameters_callback(callback) remove_on_set_parameters_callback(callback)
describe_parameter(name) describe_parameters(names) set_descriptor(name descriptor alternative_value)
add_waitable(waitable) remove_waitable(waitable) resolve_topic_name(topic only_expand)
resolve_service_name(service only_expand)
create_publisher(msg_type topic qos_profile callback_group event_callbacks qos_overriding_options publisher_class)
create_subscription(msg_type topic callback qos_profile callback_group event_callbacks qos_overriding_options raw)
create_client(srv_type srv_name qos_profile callback_group)
create_service(srv_type srv_name callback qos_profile callback_group)
create_timer(timer_period_sec callback callback_group clock) create_guard_condition(callback callback_group)
create_rate(frequency clock)
destroy_publisher(publisher) destroy_subscription(subscription) destroy_client(client) destroy_service(service)
destroy_timer(timer) destroy_guard_condition(guard) destroy_rate(rate) destroy_node()
get_publisher_names_and_types_by_node(node_name node_namespace no_demangle)
get_subscriber_names_and_types_by_node(node_name node_namespace no_demangle)
get_service_names_and_types_by_node(node_name node_namespace)
get_client_names_and_types_by_node(node_name node_namespace)
get_topic_names_and_types(no_demangle) get_service_names_and_types() get_node_names()
get_node_names_and_namespaces() get_node_names_and_namespaces_with_enclaves()
count_publishers(topic_name) count_subscribers(topic_name)
get_publishers_info_by_topic(topic_name no_mangle) get_subscriptions_info_by_topic(topic_name no_mangle)
[rclpy.publisher]
Publisher
[rclpy.publisher.Publisher]
__init__(publisher_impl msg_type topic qos_profile event_callbacks callback_group)
publish(msg) get_subscription_count() topic_name handle destroy() assert_liveliness()
wait_for_all_acked(timeout)
[rclpy.subscription]
Subscription
[rclpy.subscription.Subscription]
__init__(subscription_impl msg_type topic callback callback_group qos_profile raw event_callbacks)
handle destroy() topic_name
[rclpy.timer]
Timer Rate
[rclpy.timer.Timer]
__init__(callback callback_group timer_period_ns clock context)
handle destroy() clock timer_period_ns is_ready() is_canceled() cancel() reset() time_since_last_call()
time_until_next_call()
[rclpy.clock]
Clock ROSClock ClockType JumpHandle JumpThreshold TimeJump
[rclpy.clock.Clock]
clock_type handle now() create_jump_callback(threshold pre_callback post_callback)
sleep_until(until context) sleep_for(rel_time context)
[rclpy.time]
Time
[rclpy.time.Time]
__init__(seconds nanoseconds clock_type) nanoseconds seconds_nanoseconds() clock_type to_msg()
from_msg(msg clock_type)
[rclpy.duration]
Duration Infinite
[rclpy.duration.Duration]
__init__(seconds nanoseconds) nanoseconds to_msg() from_msg(msg) get_c_duration()
[rclpy.parameter]
Parameter PARAMETER_SEPARATOR_STRING parameter_value_to_python(parameter_value)
[rclpy.parameter.Parameter]
__init__(name type_ value) Type from_parameter_msg(param_msg) name type_ value get_parameter_value()
to_parameter_msg()
[rclpy.parameter.Parameter.Type]
NOT_SET BOOL INTEGER DOUBLE STRING BYTE_ARRAY BOOL_ARRAY INTEGER_ARRAY DOUBLE_ARRAY STRING_ARRAY
from_parameter_value(parameter_value) check(parameter_value) name value
[rclpy.qos]
QoSProfile HistoryPolicy ReliabilityPolicy DurabilityPolicy LivelinessPolicy QoSPolicyKind QoSPresetProfiles
qos_profile_sensor_data qos_profile_system_default qos_profile_services_default qos_profile_parameters
qos_profile_parameter_events qos_profile_action_status_default InvalidQoSProfileException
[rclpy.qos.QoSProfile]
__init__(history depth reliability durability lifespan deadline liveliness liveliness_lease_duration
  avoid_ros_namespace_conventions)
history depth reliability durability lifespan deadline liveliness liveliness_lease_duration
avoid_ros_namespace_conventions get_c_qos_profile()
[rclpy.qos.HistoryPolicy]
SYSTEM_DEFAULT KEEP_LAST KEEP_ALL UNKNOWN short_key short_keys() get_from_short_key(name) name value
[rclpy.qos.ReliabilityPolicy]
SYSTEM_DEFAULT RELIABLE BEST_EFFORT UNKNOWN short_key short_keys() get_from_short_key(name) name value
[rclpy.qos.DurabilityPolicy]
SYSTEM_DEFAULT TRANSIENT_LOCAL VOLATILE UNKNOWN short_key short_keys() get_from_short_key(name) name value
[rclpy.qos_overriding_options]
QoSOverridingOptions InvalidQosOverridesError QosCallbackResult QosCallbackType
[rclpy.qos_overriding_options.QoSOverridingOptions]
__init__(policy_kinds callback entity_id) policy_kinds callback entity_id with_default_policies(callback entity_id)
[rclpy.serialization]
serialize_message(message) deserialize_message(serialized_message message_type)
[rclpy.context]
Context
[rclpy.context.Context]
__init__() handle destroy() init(args initialize_logging domain_id) ok() shutdown() try_shutdown()
on_shutdown(callback) get_domain_id()
[rclpy.executors]
Executor SingleThreadedExecutor MultiThreadedExecutor ExternalShutdownException ShutdownException
TimeoutException ConditionReachedException TimeoutObject
[rclpy.executors.Executor]
__init__(context) context create_task(callback **) shutdown(timeout_sec) add_node(node) remove_node(node) wake()
get_nodes() spin() spin_until_future_complete(future timeout_sec) spin_once(timeout_sec)
spin_once_until_future_complete(future timeout_sec) can_execute(entity) wait_for_ready_callbacks(**)
[rclpy.executors.SingleThreadedExecutor]
+rclpy.executors.Executor
[rclpy.executors.MultiThreadedExecutor]
+rclpy.executors.Executor __init__(num_threads context)
[rclpy.impl.rcutils_logger]
RcutilsLogger
[rclpy.impl.implementation_singleton]
rclpy_implementation
[rclpy.callback_groups]
CallbackGroup ReentrantCallbackGroup MutuallyExclusiveCallbackGroup
[rclpy.callback_groups.CallbackGroup]
__init__() entities add_entity(entity) has_entity(entity) can_execute(entity) beginning_execution(entity)
ending_execution(entity)
[rclpy.impl.rcutils_logger.RcutilsLogger]
__init__(name) get_child(name) set_level(level) get_effective_level() is_enabled_for(severity)
log(message severity **) debug(message **) info(message **) warning(message **) warn(message **)
error(message **) fatal(message **)
[rclpy.lifecycle]
LifecycleNode LifecycleNodeMixin LifecycleState LifecyclePublisher ManagedEntity SimpleManagedEntity
Node NodeMixin State Publisher TransitionCallbackReturn node publisher managed_entity
[rclpy.lifecycle.ManagedEntity]
on_configure(state) on_cleanup(state) on_shutdown(state) on_activate(state) on_deactivate(state) on_error(state)
[rclpy.lifecycle.SimpleManagedEntity]
+rclpy.lifecycle.ManagedEntity __init__() is_activated when_enabled(wrapped when_not_enabled)
[rclpy.lifecycle.LifecycleNodeMixin]
+rclpy.lifecycle.ManagedEntity __init__(enable_communication_interface callback_group)
trigger_configure() trigger_cleanup() trigger_shutdown() trigger_activate() trigger_deactivate()
add_managed_entity(entity) create_lifecycle_publisher(**) destroy_lifecycle_publisher(publisher)
[rclpy.lifecycle.LifecycleNode]
+rclpy.node.Node +rclpy.lifecycle.LifecycleNodeMixin __init__(node_name enable_communication_interface **)
[rclpy.lifecycle.LifecyclePublisher]
+rclpy.publisher.Publisher +rclpy.lifecycle.SimpleManagedEntity __init__(**)
[rclpy.lifecycle.LifecycleState]
label state_id
[rclpy.lifecycle.TransitionCallbackReturn]
SUCCESS FAILURE ERROR name value
"""
# Module-level aliases of classes (rclpy/lifecycle/__init__.py: Node = LifecycleNode, …).
ALIASES = {
    "rclpy.lifecycle.Node": "rclpy.lifecycle.LifecycleNode",
    "rclpy.lifecycle.NodeMixin": "rclpy.lifecycle.LifecycleNodeMixin",
    "rclpy.lifecycle.State": "rclpy.lifecycle.LifecycleState",
    "rclpy.lifecycle.Publisher": "rclpy.lifecycle.LifecyclePublisher",
}

# Class-typed members: a module's class and an exception's class are classes themselves (``Parameter.Type``).
NESTED_CLASSES = {"rclpy.parameter.Parameter.Type"}
NODE_CLASSES = {"rclpy.node.Node", "rclpy.lifecycle.LifecycleNode"}
# What calls return (from Humble's annotations and docstrings): the type inference follows these.
RETURNS = {
    "rclpy.create_node": "rclpy.node.Node",
    "rclpy.node.Node.create_publisher": "rclpy.publisher.Publisher",
    "rclpy.lifecycle.LifecycleNode.create_lifecycle_publisher": "rclpy.lifecycle.LifecyclePublisher",
    "rclpy.node.Node.create_subscription": "rclpy.subscription.Subscription",
    "rclpy.node.Node.create_timer": "rclpy.timer.Timer",
    "rclpy.node.Node.get_clock": "rclpy.clock.Clock",
    "rclpy.node.Node.get_logger": "rclpy.impl.rcutils_logger.RcutilsLogger",
    "rclpy.node.Node.get_parameter": "rclpy.parameter.Parameter",
    "rclpy.logging.get_logger": "rclpy.impl.rcutils_logger.RcutilsLogger",
    "rclpy.clock.Clock.now": "rclpy.time.Time",
    "rclpy.time.Time.from_msg": "rclpy.time.Time",
    "rclpy.qos_overriding_options.QoSOverridingOptions.with_default_policies":
        "rclpy.qos_overriding_options.QoSOverridingOptions",
}


def parse_api(text: str) -> dict[str, dict[str, tuple[str, ...] | None]]:
    """``[scope]`` sections of ``name`` / ``name(p q)`` tokens → {scope: {name: params or None}}."""
    api: dict[str, dict[str, tuple[str, ...] | None]] = {}
    scope = ""
    body: list[str] = []

    def flush() -> None:
        if scope:
            tokens = " ".join(body).replace("(", " ( ").replace(")", " ) ").split()
            members: dict[str, tuple[str, ...] | None] = {}
            i = 0
            while i < len(tokens):
                name = tokens[i]
                if name.startswith("+"):  # every member of a base class listed above
                    members.update(api[name[1:]])
                    i += 1
                elif i + 1 < len(tokens) and tokens[i + 1] == "(":
                    end = tokens.index(")", i)
                    members[name] = tuple(tokens[i + 2:end])
                    i = end + 1
                else:
                    members[name] = None
                    i += 1
            api[scope] = members

    for line in text.splitlines():
        if line.startswith("["):
            flush()
            scope, body = line.strip("[]"), []
        elif line.strip():
            body.append(line)
    flush()
    return api


HUMBLE = parse_api(HUMBLE_RCLPY)


# ---------------------------------------------------------------------------------------------------- the scan
@dataclass(frozen=True)
class Use:
    """One use of rclpy: ``owner`` is a module or class (qualified), ``name`` its member, keywords passed."""

    owner: str
    name: str
    keywords: frozenset[str] = frozenset()
    where: str = ""

    @property
    def qualname(self) -> str:
        return f"{self.owner}.{self.name}"


@dataclass
class _ProjectClass:
    rclpy_bases: list[str] = field(default_factory=list)  # the rclpy classes it derives from (or is mixed into)
    project_bases: list[str] = field(default_factory=list)
    members: set[str] = field(default_factory=set)
    attr_types: dict[str, tuple] = field(default_factory=dict)


class RclpyScan(ast.NodeVisitor):
    """Records the rclpy uses of one module (flow-insensitive: one type per name per function)."""

    def __init__(self, tree: ast.Module, label: str, imported: dict[str, set[str]] | None = None) -> None:
        self.label = label
        self.imported = imported or {}  # members of the project classes other modules define
        self.uses: list[Use] = []
        self.aliases: dict[str, tuple] = {}
        self.env: dict[str, tuple] = {}
        self.self_class: str | None = None
        for node in ast.walk(tree):  # imports anywhere (the ROS modules import rclpy inside functions too)
            if isinstance(node, ast.Import):
                for al in node.names:
                    if al.name.split(".")[0] == "rclpy":
                        self.aliases[al.asname or "rclpy"] = ("mod", al.name if al.asname else "rclpy")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rclpy":
                for al in node.names:
                    self.aliases[al.asname or al.name] = self._member(("mod", node.module), al.name, node, ())
        self.classes: dict[str, _ProjectClass] = {}
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                self._collect_class(node)
        for cls in self.classes.values():  # a project base shares the members; a mixin gets the rclpy bases
            for name in cls.project_bases:
                base = self.classes[name]
                cls.members |= base.members
                base.rclpy_bases += [b for b in cls.rclpy_bases if b not in base.rclpy_bases]
        self.visit(tree)

    # ---- types: ("mod", q) module, ("cls", q) class, ("obj", q) instance, ("fn", q) function,
    #      ("proj", name) instance of a class of this module, ("list", type)
    def _member(self, base: tuple, name: str, node: ast.AST, keywords: tuple[str, ...]) -> tuple | None:
        kind, q = base
        if kind in ("mod", "cls", "obj"):
            self.uses.append(Use(q, name, frozenset(keywords), f"{self.label}:{getattr(node, 'lineno', 0)}"))
            full = ALIASES.get(f"{q}.{name}", f"{q}.{name}")
            if kind == "mod" and full in HUMBLE and name[:1].islower():  # a submodule (classes are capitalised)
                return ("mod", full)
            if full in HUMBLE or full in NESTED_CLASSES:
                return ("cls", full)
            if kind == "mod":
                if HUMBLE.get(q, {}).get(name) is not None:
                    return ("fn", full)
                if name[:1].isupper() and name in HUMBLE.get(q, {}):  # a class re-exported from another module
                    for scope in HUMBLE:
                        if scope.endswith("." + name) and scope.count(".") >= 2:
                            return ("cls", scope)
            return ("meth", full)
        if kind == "proj":
            cls = self.classes[q]
            if name in cls.members:
                return cls.attr_types.get(name)
            found = [self._member(("obj", base), name, node, keywords) for base in cls.rclpy_bases]
            return found[0] if found else None
        return None

    def _resolve_annotation(self, ann: ast.AST | None) -> tuple | None:
        if ann is None:
            return None
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                ann = ast.parse(ann.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(ann, ast.Subscript) and isinstance(ann.value, ast.Name) and ann.value.id in ("list", "List",
                                                                                                 "Sequence"):
            inner = self._resolve_annotation(ann.slice)
            return ("list", inner) if inner else None
        if isinstance(ann, ast.BinOp):  # X | None
            return self._resolve_annotation(ann.left) or self._resolve_annotation(ann.right)
        if isinstance(ann, ast.Name) and ann.id in self.classes:
            return ("proj", ann.id)
        t = self._type(ann, record=False)
        return ("obj", t[1]) if t and t[0] == "cls" else None

    def _collect_class(self, node: ast.ClassDef) -> None:
        cls = _ProjectClass()
        for b in node.bases:
            if isinstance(b, ast.Name) and b.id in self.classes:
                cls.project_bases.append(b.id)
                continue
            if isinstance(b, ast.Name) and b.id in self.imported and b.id not in self.aliases:
                cls.members |= self.imported[b.id]  # a base class from another seg_ros module
                continue
            t = self._type(b, record=True)
            if t and t[0] == "cls":
                cls.rclpy_bases.append(t[1])
        self.classes[node.name] = cls
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                cls.members.add(item.name)
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                cls.members.add(item.target.id)
                t = self._resolve_annotation(item.annotation)
                if t:
                    cls.attr_types[item.target.id] = t
        for sub in ast.walk(node):
            targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target] if isinstance(
                sub, ast.AnnAssign) else []
            for target in targets:
                for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        cls.members.add(t.attr)

    def _type(self, expr: ast.AST, record: bool = True) -> tuple | None:
        if isinstance(expr, ast.Name):
            if expr.id == "self" and self.self_class:
                return ("proj", self.self_class)
            return self.env.get(expr.id) or self.aliases.get(expr.id)
        if isinstance(expr, ast.Attribute):
            base = self._type(expr.value, record)
            return self._member(base, expr.attr, expr, ()) if base and record else None
        if isinstance(expr, ast.Call):
            return self._call(expr)
        if isinstance(expr, ast.BinOp):
            left, right = self._type(expr.left, record), self._type(expr.right, record)
            if isinstance(expr.op, ast.Sub) and left == right == ("obj", "rclpy.time.Time"):
                return ("obj", "rclpy.duration.Duration")
            return None
        if record:
            self.generic_visit(expr)  # any other expression: the uses inside it
        return None

    def _call(self, call: ast.Call) -> tuple | None:
        keywords = tuple(k.arg for k in call.keywords if k.arg)
        for arg in call.args:
            self.visit(arg)
        for kw in call.keywords:
            self.visit(kw.value)
        func = call.func
        if isinstance(func, ast.Attribute):
            base = self._type(func.value)
            result = self._member(base, func.attr, func, keywords) if base else None
        else:
            result = self._type(func)
            if result and result[0] == "cls":  # a constructor: its keywords go to __init__
                self.uses.append(Use(result[1], "__init__", frozenset(keywords), f"{self.label}:{call.lineno}"))
            elif result and result[0] in ("fn", "meth") and keywords:
                owner, name = result[1].rsplit(".", 1)
                self.uses.append(Use(owner, name, frozenset(keywords), f"{self.label}:{call.lineno}"))
        if result is None:
            return None
        if result[0] == "cls":
            return ("obj", result[1])
        if result[0] in ("fn", "meth"):
            owner, name = result[1].rsplit(".", 1)
            ret = RETURNS.get(result[1]) or (RETURNS.get(f"rclpy.node.Node.{name}") if owner in NODE_CLASSES else None)
            return ("obj", ret) if ret else None
        return None

    # ---- statements
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        outer = self.self_class
        self.self_class = node.name if node.name in self.classes else None
        for item in node.body:
            self.visit(item)
        self.self_class = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer = self.env
        self.env = dict(outer)
        for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            t = self._resolve_annotation(arg.annotation)
            if t:
                self.env[arg.arg] = t
        for stmt in node.body:
            self.visit(stmt)
        self.env = outer

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Assign(self, node: ast.Assign) -> None:
        t = self._type(node.value)
        for target in node.targets:
            self._bind(target, t)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        t = (self._type(node.value) if node.value else None) or self._resolve_annotation(node.annotation)
        self._bind(node.target, t)

    def _bind(self, target: ast.AST, t: tuple | None) -> None:
        if isinstance(target, ast.Name):
            if t:
                self.env[target.id] = t
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
            if t and self.self_class:
                self.classes[self.self_class].attr_types.setdefault(target.attr, t)
        elif isinstance(target, ast.Tuple):
            for elt in target.elts:
                self._bind(elt, None)
        else:
            self.visit(target)

    def visit_For(self, node: ast.For) -> None:
        t = self._type(node.iter)
        if t and t[0] == "list" and isinstance(node.target, ast.Name):
            self.env[node.target.id] = t[1]
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    def visit_Call(self, node: ast.Call) -> None:
        self._call(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._type(node)

    def visit_Import(self, node: ast.Import) -> None:
        pass

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        pass


def scan(source: str, label: str, imported: dict[str, set[str]] | None = None) -> list[Use]:
    return RclpyScan(ast.parse(source), label, imported).uses


def ros_module_uses() -> list[Use]:
    trees = {path.relative_to(REPO).as_posix(): ast.parse(path.read_text(encoding="utf-8")) for path in ROS_MODULES}
    members: dict[str, set[str]] = {}  # every class of the ROS modules: its own members (for cross-module bases)
    for tree in trees.values():
        scanned = RclpyScan(ast.Module(body=[], type_ignores=[]), "")
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                scanned._collect_class(node)
                members[node.name] = scanned.classes[node.name].members
    uses: list[Use] = []
    for label, tree in trees.items():
        uses += RclpyScan(tree, label, members).uses
    return uses


def missing_in_humble(uses: list[Use]) -> list[str]:
    """What Humble lacks: a member not in its module/class, or a keyword the callable does not take."""
    problems = []
    for use in uses:
        members = HUMBLE.get(use.owner)
        if members is None:
            problems.append(f"{use.where}: {use.owner} (used for .{use.name}) is not in the Humble list")
        elif use.name not in members:
            problems.append(f"{use.where}: {use.qualname} does not exist in Humble's rclpy")
        elif use.keywords:
            params = members[use.name] or ()
            unknown = sorted(k for k in use.keywords if k not in params and "**" not in params)
            if members[use.name] is None or unknown:
                problems.append(f"{use.where}: {use.qualname}() in Humble takes no keyword {', '.join(unknown)}")
    return sorted(set(problems))


# ---------------------------------------------------------------------------------------------------- tests
def test_every_rclpy_use_of_the_ros_modules_exists_in_humble() -> None:
    uses = ros_module_uses()
    assert missing_in_humble(uses) == []


def test_the_scan_sees_the_node_api_it_is_meant_to_check() -> None:
    """The inference reaches Node subclasses, annotated parameters, create_*() results and chained calls."""
    uses = ros_module_uses()
    found = {u.qualname for u in uses}
    keywords: dict[str, set[str]] = {}
    for u in uses:
        keywords.setdefault(u.qualname, set()).update(u.keywords)
    expected = {
        "rclpy.init", "rclpy.create_node", "rclpy.spin", "rclpy.ok", "rclpy.try_shutdown",
        "rclpy.logging.get_logger", "rclpy.exceptions.ParameterException",
        "rclpy.node.Node", "rclpy.node.Node.create_subscription", "rclpy.node.Node.create_publisher",
        "rclpy.node.Node.create_timer", "rclpy.node.Node.declare_parameter", "rclpy.node.Node.get_parameter",
        "rclpy.node.Node.add_on_set_parameters_callback", "rclpy.node.Node.get_logger",
        "rclpy.node.Node.get_clock", "rclpy.clock.Clock.now", "rclpy.time.Time.to_msg", "rclpy.time.Time.from_msg",
        "rclpy.duration.Duration.nanoseconds", "rclpy.publisher.Publisher.publish",
        "rclpy.publisher.Publisher.get_subscription_count", "rclpy.subscription.Subscription.topic_name",
        "rclpy.impl.rcutils_logger.RcutilsLogger.warning", "rclpy.parameter.Parameter.Type.DOUBLE",
        "rclpy.qos.QoSProfile.__init__", "rclpy.qos.ReliabilityPolicy.BEST_EFFORT",
        "rclpy.qos_overriding_options.QoSOverridingOptions.with_default_policies",
        "rclpy.callback_groups.CallbackGroup", "rclpy.executors.SingleThreadedExecutor",
        "rclpy.executors.ExternalShutdownException",
    }
    assert expected - found == set()
    assert {"raw", "qos_overriding_options"} <= keywords["rclpy.node.Node.create_subscription"]
    assert "domain_id" in keywords["rclpy.init"]
    assert {"history", "depth", "reliability", "durability"} <= keywords["rclpy.qos.QoSProfile.__init__"]


def test_the_check_reports_what_humble_lacks() -> None:
    source = '''
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.event_handler import PublisherEventCallbacks  # Iron+: rclpy.qos_event in Humble

class N(Node):
    def go(self) -> None:
        self.create_subscription(int, "t", print, 1, raw=True, content_filter_options=None)  # Jazzy+ keyword
        self.get_logger().info("x")
        self.get_clock().now().to_msg()
        self.made_here = 1
        self.made_here.anything()
        self.type_description_service()  # no such member in Humble

def f(node: Node) -> None:
    node.get_parameter("a").get_parameter_value()
    node.get_parameter("a").no_such_member
    rclpy.spin(node, timeout=1)
    QoSProfile(depth=1, histroy=1)
'''
    problems = missing_in_humble(scan(source, "synthetic"))
    text = "\n".join(problems)
    assert "rclpy.event_handler (used for .PublisherEventCallbacks) is not in the Humble list" in text
    assert "create_subscription() in Humble takes no keyword content_filter_options" in text
    assert "rclpy.node.Node.type_description_service does not exist" in text
    assert "rclpy.parameter.Parameter.no_such_member does not exist" in text
    assert "rclpy.spin() in Humble takes no keyword timeout" in text
    assert "QoSProfile.__init__() in Humble takes no keyword histroy" in text
    assert len(problems) == 6, text  # get_logger().info, get_clock().now().to_msg(), self.made_here: fine


def _live(qualname: str) -> object:
    """Resolve ``rclpy.a.B.c`` on the installed rclpy: the longest importable module, then attributes."""
    parts = qualname.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(qualname)


def test_every_use_exists_in_the_installed_rclpy() -> None:
    """Kilted / Jazzy venvs: the same uses resolve on a real rclpy (instance attributes excepted: see below)."""
    rclpy = pytest.importorskip("rclpy")
    missing = []
    for use in ros_module_uses():
        try:
            _live(use.qualname)
        except (AttributeError, ImportError):
            missing.append(f"{use.where}: {use.qualname} (rclpy {getattr(rclpy, '__version__', '?')})")
    assert missing == []
