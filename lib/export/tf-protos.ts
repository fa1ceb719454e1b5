/**
 * The slice of TensorFlow's protobuf schema a SavedModel needs, with TensorFlow's own field numbers
 * (tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape,types,versions}.proto,
 * tensorflow/core/protobuf/{saved_model,meta_graph,saver,tensor_bundle}.proto,
 * tensorflow/core/framework/variable.proto). Fields a writer never sets are left out: protobuf
 * readers skip unknown fields, so files TensorFlow wrote still parse.
 */
import * as protobuf from 'protobufjs';

const TF_PROTO = `
syntax = "proto3";
package tensorflow;

enum DataType {
  DT_INVALID = 0; DT_FLOAT = 1; DT_DOUBLE = 2; DT_INT32 = 3; DT_UINT8 = 4; DT_INT16 = 5; DT_INT8 = 6;
  DT_STRING = 7; DT_COMPLEX64 = 8; DT_INT64 = 9; DT_BOOL = 10; DT_BFLOAT16 = 14; DT_HALF = 19;
  DT_RESOURCE = 20; DT_VARIANT = 21;
}

message TensorShapeProto {
  message Dim { int64 size = 1; string name = 2; }
  repeated Dim dim = 2;
  bool unknown_rank = 3;
}

message TensorProto {
  DataType dtype = 1;
  TensorShapeProto tensor_shape = 2;
  int32 version_number = 3;
  bytes tensor_content = 4;
  repeated float float_val = 5 [packed = true];
  repeated double double_val = 6 [packed = true];
  repeated int32 int_val = 7 [packed = true];
  repeated bytes string_val = 8;
  repeated int64 int64_val = 10 [packed = true];
  repeated bool bool_val = 11 [packed = true];
}

message NameAttrList { string name = 1; map<string, AttrValue> attr = 2; }

message AttrValue {
  message ListValue {
    repeated bytes s = 2;
    repeated int64 i = 3 [packed = true];
    repeated float f = 4 [packed = true];
    repeated bool b = 5 [packed = true];
    repeated DataType type = 6 [packed = true];
    repeated TensorShapeProto shape = 7;
    repeated TensorProto tensor = 8;
    repeated NameAttrList func = 9;
  }
  oneof value {
    bytes s = 2; int64 i = 3; float f = 4; bool b = 5; DataType type = 6; TensorShapeProto shape = 7;
    TensorProto tensor = 8; ListValue list = 1; NameAttrList func = 10; string placeholder = 9;
  }
}

message NodeDef {
  string name = 1;
  string op = 2;
  repeated string input = 3;
  string device = 4;
  map<string, AttrValue> attr = 5;
}

message VersionDef { int32 producer = 1; int32 min_consumer = 2; repeated int32 bad_consumers = 3; }

message GraphDef { repeated NodeDef node = 1; VersionDef versions = 4; }

message SaverDef {
  enum CheckpointFormatVersion { LEGACY = 0; V1 = 1; V2 = 2; }
  string filename_tensor_name = 1;
  string save_tensor_name = 2;
  string restore_op_name = 3;
  int32 max_to_keep = 4;
  bool sharded = 5;
  float keep_checkpoint_every_n_hours = 6;
  CheckpointFormatVersion version = 7;
}

message CollectionDef {
  message NodeList { repeated string value = 1; }
  message BytesList { repeated bytes value = 1; }
  oneof kind { NodeList node_list = 1; BytesList bytes_list = 2; }
}

message TensorInfo { string name = 1; DataType dtype = 2; TensorShapeProto tensor_shape = 3; }

message SignatureDef {
  map<string, TensorInfo> inputs = 1;
  map<string, TensorInfo> outputs = 2;
  string method_name = 3;
}

message MetaGraphDef {
  message MetaInfoDef {
    string meta_graph_version = 1;
    repeated string tags = 4;
    string tensorflow_version = 5;
  }
  MetaInfoDef meta_info_def = 1;
  GraphDef graph_def = 2;
  SaverDef saver_def = 3;
  map<string, CollectionDef> collection_def = 4;
  map<string, SignatureDef> signature_def = 5;
}

message SavedModel { int64 saved_model_schema_version = 1; repeated MetaGraphDef meta_graphs = 2; }

message VariableDef {
  string variable_name = 1;
  string initializer_name = 2;
  string snapshot_name = 3;
  bool is_resource = 5;
  string initial_value_name = 6;
  bool trainable = 7;
}

message BundleHeaderProto {
  enum Endianness { LITTLE = 0; BIG = 1; }
  int32 num_shards = 1;
  Endianness endianness = 2;
  VersionDef version = 3;
}

message BundleEntryProto {
  DataType dtype = 1;
  TensorShapeProto shape = 2;
  int32 shard_id = 3;
  int64 offset = 4;
  int64 size = 5;
  fixed32 crc32c = 6;
}
`;

const root = protobuf.parse(TF_PROTO).root;
const type = (name: string): protobuf.Type => root.lookupType(`tensorflow.${name}`);

export const TfProto = {
  GraphDef: type('GraphDef'),
  NodeDef: type('NodeDef'),
  TensorProto: type('TensorProto'),
  SavedModel: type('SavedModel'),
  VariableDef: type('VariableDef'),
  BundleHeaderProto: type('BundleHeaderProto'),
  BundleEntryProto: type('BundleEntryProto'),
};

/** Plain-object conversion everyone uses: enums as names, int64 as numbers, bytes as Buffer. */
export const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, defaults: false, arrays: true, objects: true };

export function encode(t: protobuf.Type, obj: object): Uint8Array {
  const err = t.verify(t.fromObject(obj));
  if (err) throw new Error(`${t.name}: ${err}`);
  return t.encode(t.fromObject(obj)).finish();
}

export function decode<T>(t: protobuf.Type, bytes: Uint8Array, what: string): T {
  try {
    return t.toObject(t.decode(bytes), TO_OBJECT) as T;
  } catch (e) {
    throw new Error(`${what}: not a valid ${t.name} protobuf (${e instanceof Error ? e.message : String(e)})`);
  }
}
