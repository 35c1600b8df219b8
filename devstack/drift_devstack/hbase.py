"""HBase in standalone mode (ZooKeeper, master and region server in one JVM) plus its Thrift server."""

from __future__ import annotations

from xml.sax.saxutils import escape

from . import toolchain
from .config import StackConfig
from .probes import hbase_thrift_tables
from .process import ProcessSpec

JAVA_17_FLAGS = [
    # What HBase's own launcher passes on JDK 17 (bin/hbase, hbase-surefire.jdk17.flags).
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true",
]

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %m%n
rootLogger = WARN,console
logger.hbase.name = org.apache.hadoop.hbase
logger.hbase.level = WARN
"""


def _site_xml(config: StackConfig, ports: dict[str, int]) -> str:
    data = config.data_dir / "hbase"
    properties = {
        "hbase.cluster.distributed": "false",
        "hbase.rootdir": f"file://{data / 'root'}",
        "hbase.tmp.dir": str(data / "tmp"),
        "hbase.zookeeper.property.dataDir": str(data / "zookeeper"),
        "hbase.zookeeper.property.clientPort": ports["hbase-zookeeper"],
        "hbase.zookeeper.quorum": "127.0.0.1",
        "hbase.unsafe.stream.capability.enforce": "false",
        "hbase.master.hostname": "localhost",
        "hbase.regionserver.hostname": "localhost",
        "hbase.master.port": ports["hbase-master"],
        "hbase.regionserver.port": ports["hbase-regionserver"],
        "hbase.master.info.port": "-1",
        "hbase.regionserver.info.port": "-1",
        "hbase.thrift.info.port": "-1",
    }
    rows = "".join(
        f"  <property><name>{name}</name><value>{escape(str(value))}</value></property>\n"
        for name, value in properties.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{rows}</configuration>\n'


def specs(config: StackConfig, ports: dict[str, int]) -> list[ProcessSpec]:
    """The HBase master (with embedded ZooKeeper and region server) and the Thrift gateway."""
    conf = config.data_dir / "hbase" / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "hbase-site.xml").write_text(_site_xml(config, ports))
    (conf / "log4j2.properties").write_text(LOG4J2)
    java = toolchain.require_command("java", "install a Java 17 runtime")
    classpath = f"{conf}:{toolchain.hbase_lib(config)}/*"
    jvm = [java, *JAVA_17_FLAGS, f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}", "-cp", classpath]
    master = ProcessSpec(
        name="hbase-master",
        argv=[*jvm, "-Xmx768m", "org.apache.hadoop.hbase.master.HMaster", "start"],
        ready=lambda: True,  # served through Thrift: the Thrift probe checks that the master is online
        stop_timeout=60.0,
    )
    thrift_port = ports["hbase-thrift"]
    thrift = ProcessSpec(
        name="hbase-thrift",
        argv=[
            *jvm,
            "-Xmx256m",
            "org.apache.hadoop.hbase.thrift.ThriftServer",
            "-b",
            "127.0.0.1",
            "-p",
            str(thrift_port),
            "start",
        ],
        ready=lambda: hbase_thrift_tables(thrift_port),
    )
    return [master, thrift]
